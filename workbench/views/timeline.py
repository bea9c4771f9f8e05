"""The view of a segmented long file: heatmap and merged timeline you can click, playable spans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.intake import AudioConfig, load
from workbench.errors import printable
from workbench.runs.artifacts import _capped_bytes, read_arrays_capped, read_output_csv
from workbench.runs.longform import dominant_test_words, source_path
from workbench.runs.longform_plot import model_words, span_colours
from workbench.views.viewbase import _View, _banner, _esc, _w, wav_bytes
from workbench.serialize import loads_json

# ---------------------------------------------------------------------------
def _at_or_under(timeline: Any) -> list[bool]:
    """timeline.csv's ``at_or_under_uniform`` per span (the cells are read back as text); False where the column is
    absent (a folder written before it)."""
    col = timeline["at_or_under_uniform"] if "at_or_under_uniform" in timeline.columns else [False] * len(timeline)
    return [str(v).strip().lower() in ("true", "1", "1.0") for v in col]


def _heatmap_labels(heat: Any, summary: dict, n: int) -> list[str]:
    """The heatmap's classes: as ``heatmap.npz`` names them, else the model's in the summary; numbered when neither fits
    (never the nine guessed for a fine-tuned head's columns)."""
    for labels in (list(heat["labels"]) if "labels" in heat else None, (summary.get("model") or {}).get("labels")):
        if labels is not None and len(labels) == n:
            return [str(x) for x in labels]
    return [f"class {i}" for i in range(n)]


class LongAudioTimeline(_View):
    """A segmented long file (``workbench segment`` folder): heatmap and timeline you can click, playable spans.

    The figure is a plotly ``FigureWidget``: clicking a span of the timeline, or a
    cell of the heatmap (the span covering that time), plays that span and shows
    it in the detail line; the list below does the same without a mouse.

    Parameters
    ----------
    segment_dir : str or Path
        The output folder of ``workbench segment`` (:func:`wb.segment_file`): its
        ``summary.json``, ``timeline.csv``, ``segments.csv`` and ``heatmap.npz``.

    Examples
    --------
    >>> seg = wb.segment_file(wb.DEMO_DATA / "happy_en_44k.wav", model="tiny", out_dir="runs/long_segments")
    >>> view = wb.LongAudioTimeline(seg.out_dir)
    >>> len(view.spans.options) == len(view.timeline)          # one line per merged span
    True
    >>> view.play(0)                                           # as a click on the first span does
    >>> y, sr = view.current
    >>> bool(abs(len(y) / sr - (view.timeline["end"][0] - view.timeline["start"][0])) < 0.01)   # the span's audio, from the source
    True
    """

    def __init__(self, segment_dir: str | Path):
        W = _w()
        self.dir = Path(segment_dir)
        # a segment folder may come from anyone: each file read under the run folder's cap, the heatmap never unpacked
        # past it (a 2 MB heatmap.npz of zeros unpacked to gigabytes)
        self.summary_data = loads_json(_capped_bytes(self.dir / "summary.json"))
        # the tables' cells decoded back to the labels written (a head's label ``=x`` or one holding a newline)
        # refused in one line when hand-edited: text in a time column raised pandas' TypeError from the figure
        self.timeline = read_output_csv(self.dir / "timeline.csv", numeric=("start", "end", "confidence", "n_segments"), text=("label",))
        self.segments = read_output_csv(self.dir / "segments.csv")
        self.source = source_path(self.dir, self.summary_data)
        heat = read_arrays_capped(self.dir / "heatmap.npz")
        self.heatmap = heat["scores"]
        self.times = heat["times"] if "times" in heat else np.arange(len(self.heatmap)) * float(self.summary_data.get("grid_s", 0.1))
        self.labels = _heatmap_labels(heat, self.summary_data, self.heatmap.shape[1])
        s = self.summary_data
        head = (_banner(bool(s.get("random_weights"))) +
                f"<h4>{_esc(self.source.name)}</h4>{s['duration_s']:.1f} s, {s['n_segments']} segments, dominant <b>{_esc(s['dominant_emotion'] or '—')}</b>"
                + (f" ({s['label_counts'][s['dominant_emotion']]} of {sum(s['label_counts'].values())} segments)"  # its denominator
                   if s.get("dominant_emotion") in (s.get("label_counts") or {}) else "")
                + (f" <b>⚠ {_esc(s['dominant_check'])}</b>" if s.get("dominant_check") else "")
                + (f"<br><small>{_esc(dominant_test_words(s['dominant_test']))}</small>" if s.get("dominant_test") else "")
                + " — click a span of the timeline (or a point of the heatmap) to play it")
        self.low = _at_or_under(self.timeline)  # the spans whose mean confidence is no better than a uniform guess
        if any(self.low) and s.get("uniform_guess"):  # said by segment's screen and figure; the widget said nothing
            head += (f"<br><b>⚠ {sum(self.low)} of {len(self.low)} spans at or under the uniform guess {s['uniform_guess']:.3f} "
                     "(marked ≤ 1/K): their label is no better than a guess</b>")
        self.plot = self._figure()
        self.spans = W.Select(options=[(f"{r.start:8.2f}–{r.end:8.2f} s  {printable(r.label):<9} conf {r.confidence:.3f}{' ≤ 1/K' if self.low[i] else ''} ({r.n_segments} seg)", i)
                                       for i, r in enumerate(self.timeline.itertuples())], rows=min(10, max(len(self.timeline), 2)),
                               layout=W.Layout(width="100%"))
        self.play_button = W.Button(description="play span")
        self.play_button.on_click(lambda _: self.play(self.spans.value))
        self.player = W.Box()
        self.now = W.HTML()
        self.figure = W.Box([self.plot])
        self.widget = W.VBox([W.HTML(head), self.figure, self._make_status(), self.now, self.player, self.spans, self.play_button])

    def _figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04)
        grid = float(self.times[1] - self.times[0]) if len(self.times) > 1 else 0.1
        fig.add_trace(go.Heatmap(z=np.ma.filled(np.ma.masked_invalid(self.heatmap.T), np.nan), x=self.times + grid / 2, y=list(self.labels),
                                 colorscale="Magma", zmin=0, zmax=1, colorbar=dict(title="score", len=0.7, y=0.62),
                                 hovertemplate="%{x:.2f} s, %{y}: %{z:.3f}<extra></extra>"), row=1, col=1)
        from matplotlib.colors import to_hex

        palette = [to_hex(c) for c in span_colours(len(self.labels))]  # one colour per class (10 repeated past 10)
        tl = self.timeline
        colors = [palette[list(self.labels).index(lab)] if lab in self.labels else "#000" for lab in tl["label"]]
        fig.add_trace(go.Bar(x=(tl["end"] - tl["start"]).to_numpy(), base=tl["start"].to_numpy(), y=["spans"] * len(tl), orientation="h",
                             marker=dict(color=colors, line=dict(color="white", width=1)), text=[_esc(lab) + (" ≤ 1/K" if low else "") for lab, low in zip(tl["label"], self.low)], textposition="inside",
                             insidetextanchor="middle", showlegend=False,
                             hovertemplate="%{base:.2f}–%{x:.2f} s<extra></extra>",
                             customdata=np.arange(len(tl))), row=2, col=1)
        fig.update_layout(height=400, margin=dict(l=10, r=10, t=80, b=40), clickmode="event", bargap=0,
                          title=dict(text=("RANDOM WEIGHTS — " if self.summary_data.get("random_weights") else "") + "frame scores and merged timeline"
                                     + f"<br><sub>{_esc(model_words(self.summary_data.get('model')))}</sub>",
                                     font=dict(size=14), y=0.97))
        fig.update_xaxes(title_text="time (s)", row=2, col=1)
        widget = go.FigureWidget(fig)
        self.heat_trace, self.span_trace = widget.data
        self.heat_trace.on_click(lambda trace, points, state: self.on_heatmap_click(points))
        self.span_trace.on_click(lambda trace, points, state: self.on_span_click(points))
        return widget

    def on_span_click(self, points):
        if points.point_inds:
            self.play(int(points.point_inds[0]))

    def on_heatmap_click(self, points):
        if not points.xs:
            return
        t = float(points.xs[0])
        hits = np.flatnonzero((self.timeline["start"].to_numpy() <= t) & (t <= self.timeline["end"].to_numpy()))
        if len(hits):
            self.play(int(hits[0]))
        else:
            self.now.value = f"{t:.2f} s is in no span (no speech found there)"

    def span_audio(self, i: int) -> tuple[np.ndarray, int]:
        import soundfile as sf

        r = self.timeline.iloc[int(i)]
        try:
            with sf.SoundFile(str(self.source)) as f:
                f.seek(int(r["start"] * f.samplerate))
                y = f.read(int((r["end"] - r["start"]) * f.samplerate), dtype="float32", always_2d=True).mean(axis=1)
                return y, f.samplerate
        except Exception:  # formats libsndfile cannot seek: decode the whole file (short files only)
            a = load(self.source, config=AudioConfig(max_duration_s=24 * 3600))
            return a.samples[int(r["start"] * a.sr): int(r["end"] * a.sr)], a.sr

    def play(self, i):
        if i is None:
            return
        with self.busy(f"reading span {int(i)}"):
            y, sr = self.span_audio(i)
            r = self.timeline.iloc[int(i)]
            self.now.value = f"span {int(i)}: {r['start']:.2f}–{r['end']:.2f} s, <b>{_esc(r['label'])}</b> (conf {r['confidence']:.3f}) — playing"
            self.player.children = [_w().Audio(value=wav_bytes(y, sr), format="wav", autoplay=True, loop=False)]
            self.current = (y, sr)
            self.current_span = int(i)
            if self.spans.value != int(i):
                self.spans.value = int(i)
