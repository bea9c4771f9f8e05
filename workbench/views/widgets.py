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
                         or telephone channel, the nine scores, label change
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

import html
import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.audio.intake import Audio, AudioConfig, decode_mono, load, resample
from workbench.analysis.listeners import agree_wrong_frame
from workbench.analysis.compare import compare_results
from workbench.data.listeners import listener_frame
from workbench.audio.measures import noise_floor_db, onset_level_db
from workbench.engine.findings import audio_facts, findings_from
from workbench.analysis.embeddings import RunEmbeddings, load_run_embeddings, neighbours, project
from workbench.errors import ConfigError, WorkbenchError
from workbench.explain.attribution import METHODS as EVIDENCE_METHODS
from workbench.explain.explanation import explain_clip
from workbench.explain.figure import plot_explanation
from workbench.labels import LABEL_KEYS
from workbench.serialize import figure_text
from workbench.runs.longform import source_path
from workbench.engine.core import score_sources
from workbench.model.network import RANDOM_WEIGHTS_BANNER, Emotion2vecModel
from workbench.model.ref import ModelRef
from workbench.audio.steps import apply_chain
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant, select_rows
from workbench.schema import FRAME_RATE, SAMPLE_RATE, SCORE_PREFIX, score_column, score_labels
from workbench.audio.variants import Variant, scored_audio

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
    return html.escape(str(x))


def _banner(random_weights: bool) -> str:
    if not random_weights:
        return ""
    return f"<div style='background:#fdd;padding:4px;border:1px solid #c00'><b>{_esc(RANDOM_WEIGHTS_BANNER)}</b></div>"


def _findings_html(findings: Sequence[dict]) -> str:
    if not findings:
        return "<div><i>no findings</i></div>"  # a block: after a bold heading it must not run on ("…audiono findings")
    items = "".join(
        f"<li><b>{_esc(f.get('severity', ''))}</b> <code>{_esc(f['code'])}</code>: {_esc(f.get('message', ''))}"
        f"<br><small>→ {_esc(f.get('suggestion', ''))}</small></li>" for f in findings)
    return f"<ul>{items}</ul>"


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
            self.status.value = f"<span style='color:#c00'><b>{_esc(what)} failed</b>: {_esc(exc)}</span>"
            return
        except BaseException as exc:  # a bug: never leave the spinner turning; the traceback goes to the log
            self.status.value = f"<span style='color:#c00'><b>{_esc(what)} failed</b>: {_esc(type(exc).__name__)}: {_esc(exc)}</span>"
            raise
        self.status.value = ""


def _repredict(net: Emotion2vecModel, clips: list, *, granularity: str = "utterance") -> list:
    """Predictions of audio a view already holds (16 kHz), through the one engine; a clip it cannot score raises."""
    return [s.prediction_or_raise() for s in score_sources(net, clips, granularity=granularity, workers=0)]


def _run_model(rf: RunFolder, model: Any) -> Emotion2vecModel:
    """The model that scored the run (or the one given), for re-predictions: the run's
    :class:`~workbench.model.ref.ModelRef`, whose checksum refuses other weights under the same name
    (a random checkpoint of another seed is another model)."""
    if model:
        return ModelRef.coerce(model).load()
    return ModelRef.from_run(rf.config, rf.summary).load()


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


# ---------------------------------------------------------------------------
class TrimmingInspector(_View):
    """Compare a clip's intake with a preprocessing chain: what was removed, and where.

    The findings are those of the processed audio (the one shown beside the intake).
    Its onset is judged against the recording's noise floor: a trim removes the quiet
    frames that floor is measured on, so the lower of the intake's and the processed
    audio's floor estimates is used.
    """

    DEFAULT_CHAINS = {
        "intake only": [],
        "trim top_db=30": [{"name": "trim", "top_db": 30}],
        "trim top_db=20": [{"name": "trim", "top_db": 20}],
        "denoise + trim": [{"name": "denoise", "stationary": True}, {"name": "trim", "top_db": 30}],
        "telephone": [{"name": "telephone"}],
    }

    def __init__(self, path: str | Path, chains: dict[str, list] | None = None):
        W = _w()
        self.path = Path(path)
        self.source = load(self.path)
        self.chains = dict(chains or self.DEFAULT_CHAINS)
        self.chain = W.Dropdown(options=list(self.chains), value=list(self.chains)[1 if len(self.chains) > 1 else 0], description="chain")
        self.summary = W.HTML()
        self.findings = W.HTML()
        self.figure = W.Box()
        self.players = W.HBox()
        self.chain.observe(lambda _: self.update(), names="value")
        self.widget = W.VBox([W.HTML(f"<h4>{_esc(self.path.name)}</h4>"), self.chain, self._make_status(), self.figure, self.players,
                              self.summary, self.findings])
        self.update()

    def facts(self, processed: Audio) -> dict:
        """Facts of the processed audio, its onset measured against the recording's noise floor."""
        facts = audio_facts(processed)
        # the recording's noise floor, as the findings measure it (a trim may have removed every quiet frame)
        floor = min(noise_floor_db(self.source.samples, self.source.sr)[0], noise_floor_db(processed.samples, processed.sr)[0])
        facts["first_25ms_db_above_floor"] = onset_level_db(processed.samples, processed.sr) - floor
        return facts

    def update(self):
        with self.busy(f"applying {self.chain.value}"):
            self._update()

    def _update(self):
        W = _w()
        steps = self.chains[self.chain.value]
        processed = apply_chain(self.source, steps) if steps else self.source
        if processed.sr != self.source.sr:
            processed = resample(processed, self.source.sr)
        self.processed = processed
        cut_start, cut_end = processed.log.total_cut()
        added = sum(s.added_start + s.added_end for s in processed.log.steps)
        sr = self.source.sr
        plt = _plt()
        fig, ax = plt.subplots(figsize=(9, 2.6))
        t = np.arange(len(self.source.samples)) / sr
        ax.plot(t, self.source.samples, lw=0.5, color="#999999", label=f"intake ({self.source.duration:.3f} s)")
        tp = cut_start + np.arange(len(processed.samples)) / processed.sr
        ax.plot(tp, processed.samples, lw=0.5, color="#1f77b4", alpha=0.8, label=f"{self.chain.value} ({processed.duration:.3f} s)")
        if cut_start > 0:
            ax.axvspan(0, cut_start, color="red", alpha=0.15, label=f"removed {cut_start * 1000:.0f} ms at start")
        if cut_end > 0:
            ax.axvspan(self.source.duration - cut_end, self.source.duration, color="orange", alpha=0.2, label=f"removed {cut_end * 1000:.0f} ms at end")
        ax.set_xlabel("time in the source (s)")
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        self.figure.children = [png_widget(fig)]
        self.players.children = [W.VBox([W.Label("intake"), player(self.source.samples, sr)]),
                                 W.VBox([W.Label(self.chain.value), player(processed.samples, processed.sr)])]
        self.cut = {"start_s": cut_start, "end_s": cut_end, "start_samples": int(round(cut_start * sr)), "end_samples": int(round(cut_end * sr))}
        lines = "".join(f"<li>{_esc(line)}</li>" for line in processed.log.lines())
        self.summary.value = (
            f"<b>duration</b> {self.source.duration:.3f} s → {processed.duration:.3f} s; "
            f"<b>cut</b> {cut_start * 1000:.0f} ms ({self.cut['start_samples']} samples) at start, "
            f"{cut_end * 1000:.0f} ms ({self.cut['end_samples']} samples) at end; <b>added</b> {added * 1000:.0f} ms"
            f"<details><summary>processing log</summary><ul>{lines}</ul></details>")
        self.found = [f.to_dict() for f in findings_from(self.facts(processed))]
        self.findings.value = f"<b>findings of the {_esc(self.chain.value)} audio</b>" + _findings_html(self.found)


# ---------------------------------------------------------------------------
class SampleRateExplorer(_View):
    """What a lower source rate, another resampler or a telephone channel does to the scores."""

    RATES = (8000, 11025, SAMPLE_RATE, 22050, 44100, 48000)

    def __init__(self, path: str | Path, model: Any = None):
        W = _w()
        self.path = Path(path)
        self.net = ModelRef.coerce(model).load()
        self.decoded = decode_mono(self.path)
        self.rate = W.Dropdown(options=list(self.RATES), value=8000, description="source rate")
        self.resampler = W.Dropdown(options=["soxr", "scipy", "librosa"], value="soxr", description="resampler")
        self.telephone = W.Checkbox(value=False, description="telephone channel")
        self.run_button = W.Button(description="compare", button_style="primary")
        self.result = W.HTML()
        self.figure = W.Box()
        self.players = W.HBox()
        self.run_button.on_click(lambda _: self.update())
        self.widget = W.VBox([W.HTML(_banner(self.net.random_weights) + f"<h4>{_esc(self.path.name)}</h4>"),
                              W.HBox([self.rate, self.resampler, self.telephone, self.run_button]), self._make_status(), self.result,
                              self.figure, self.players])
        self._config = AudioConfig()
        self.update()

    def update(self):
        with self.busy(f"scoring {self.rate.value} Hz"):
            self._update()

    def _update(self):
        steps = [{"name": "resample", "sr": int(self.rate.value), "method": self.resampler.value}]
        if self.telephone.value:
            steps.append({"name": "telephone"})
        ref = scored_audio(self.decoded, Variant("original"), self._config)
        var = scored_audio(self.decoded, Variant("variant", tuple(steps)), self._config)
        pa, pb = _repredict(self.net, [ref, var])
        self.predictions = (pa, pb)
        self.label_changed = pa.label != pb.label
        change = "<b style='color:#c00'>top label changed</b>" if self.label_changed else "top label unchanged"
        self.result.value = (f"original ({self.decoded.sr} Hz): <b>{pa.label}</b> {pa.confidence:.3f} &nbsp; → &nbsp; "
                             f"{self.rate.value} Hz / {self.resampler.value}{' / telephone' if self.telephone.value else ''}: "
                             f"<b>{pb.label}</b> {pb.confidence:.3f} — {change}")
        plt = _plt()
        fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), gridspec_kw={"width_ratios": [2, 2, 1.6]})
        for ax, a, title in ((axes[0], ref, "original → 16 kHz"), (axes[1], var, f"{self.rate.value} Hz → 16 kHz")):
            ax.specgram(a.samples + 1e-9, NFFT=512, Fs=a.sr, noverlap=384, cmap="magma", vmin=-140)
            ax.set_title(title, fontsize=9)
            ax.set_ylabel("Hz")
        x = np.arange(len(pa.labels))
        axes[2].barh(x - 0.2, pa.scores, height=0.4, label="original")
        axes[2].barh(x + 0.2, pb.scores, height=0.4, label="variant")
        axes[2].set_yticks(x, [figure_text(k) for k in pa.labels], fontsize=8)
        axes[2].legend(fontsize=8)
        fig.tight_layout()
        self.figure.children = [png_widget(fig)]
        self.players.children = [player(ref.samples, ref.sr), player(var.samples, var.sr)]


# ---------------------------------------------------------------------------
class LowConfidenceBrowser(_View):
    """Filter a run's items and open one: the audio it was scored on, its scores, frame timeline, findings, neighbours.

    After :meth:`show`, ``.shown`` holds what is on screen: ``row`` (the results row),
    ``audio`` (the scored audio in the player and the waveform), ``scores`` (the
    stored scores in the bar chart), ``frame_scores`` and ``repredicted`` (the
    re-prediction of that audio) and ``gap`` (max |Δ| between the two).
    """

    def __init__(self, run_dir: str | Path | RunFolder, model: Any = None, threshold: float = 0.6):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.run_dir = self.rf.path
        self.results = self.rf.results()
        self.ok = select_rows(self.results).copy()
        self._model_arg = model
        self._net = None
        codes = sorted({c for s in self.ok["finding_codes"].fillna("") for c in s.split(",") if c})

        def opts(col):
            vals = sorted({str(v) for v in self.ok[col].fillna("") if str(v)}) if col in self.ok.columns else []
            return ["(any)"] + vals

        self.threshold = W.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="confidence <", continuous_update=False,
                                       style={"description_width": "initial"})
        self.finding = W.Dropdown(options=["(any)"] + codes, description="finding")
        self.true_label = W.Dropdown(options=opts("emotion"), description="true")
        self.pred_label = W.Dropdown(options=opts("pred"), description="predicted")
        self.variant = W.Dropdown(options=opts("variant"), description="variant")
        self.speaker = W.Dropdown(options=opts("speaker"), description="speaker")
        self.count = W.HTML()
        self.table = W.Select(options=[], rows=10, layout=W.Layout(width="100%"))
        self.detail = W.HTML()
        self.figure = W.Box()
        self.audio = W.Box()
        self.shown: dict[str, Any] = {}
        # Evidence panel: attribution for the open item, on demand (it takes seconds to minutes on a CPU)
        self.evidence_method = W.Dropdown(options=list(EVIDENCE_METHODS), value="occlusion", description="method")
        self.evidence_button = W.Button(description="Evidence", tooltip="why the model said that: attribution checked for faithfulness")
        self.evidence_button.on_click(lambda _: self.explain())
        self.evidence = W.VBox([])
        for c in (self.threshold, self.finding, self.true_label, self.pred_label, self.variant, self.speaker):
            c.observe(lambda _: self.refresh(), names="value")
        self._refreshing = False  # a new option list is not a user's choice: it opens nothing
        self.table.observe(lambda ch: None if self._refreshing else self.show(ch["new"]), names="value")
        self.widget = W.VBox([
            W.HTML(_banner(self.rf.random_weights) + f"<h4>{_esc(self.run_dir.name)}</h4>"),
            W.HBox([self.threshold, self.finding]), W.HBox([self.true_label, self.pred_label]), W.HBox([self.variant, self.speaker]),
            self.count, self.table, self._make_status(), self.audio, self.figure, self.detail,
            W.HBox([self.evidence_button, self.evidence_method]), self.evidence,
        ])
        self._emb: RunEmbeddings | None = None
        self.refresh()

    @property
    def net(self) -> Emotion2vecModel:
        if self._net is None:
            self._net = _run_model(self.rf, self._model_arg)
        return self._net

    def filtered(self):
        df = self.ok[self.ok["confidence"].astype(float) < float(self.threshold.value)]
        if self.finding.value != "(any)":
            df = df[df["finding_codes"].fillna("").str.split(",").apply(lambda cs: self.finding.value in cs)]
        for ctl, col in ((self.true_label, "emotion"), (self.pred_label, "pred"), (self.variant, "variant"), (self.speaker, "speaker")):
            if ctl.value != "(any)":
                df = df[df[col].fillna("").astype(str) == ctl.value]
        return df.sort_values("confidence")

    def refresh(self):
        df = self.filtered()
        self.count.value = f"<b>{len(df)}</b> of {len(self.ok)} items"
        options = [(f"{r.id} [{r.variant}]  true={r.emotion or '—'}  pred={r.pred}  conf={r.confidence:.3f}  {r.finding_codes or ''}", (r.id, r.variant))
                   for r in df.itertuples()]
        keep = self.table.value
        self._refreshing = True
        try:  # ipywidgets selects the first option of a new list: keep the open item if it is still listed, else none
            self.table.options = options
            self.table.value = keep if keep in [k for _, k in options] else None
        finally:
            self._refreshing = False

    def select(self, item_id: str, variant: str | None = None):
        """Open an item (used by the confusion explorer and the embedding map)."""
        rows = self.ok[(self.ok["id"] == item_id) & ((self.ok["variant"] == variant) if variant else True)]
        if not len(rows):
            raise KeyError(f"{item_id} is not among the run's successful items")
        key = (item_id, rows["variant"].iloc[0])
        if key not in [v for _, v in self.table.options]:
            self.threshold.value = 1.0
            for c in (self.finding, self.true_label, self.pred_label, self.variant, self.speaker):
                c.value = "(any)"
        if self.table.value == key:
            self.show(key)
        else:
            self.table.value = key

    def explain(self):
        """Evidence panel: explain the open item's predicted class with the chosen method; the figure, faithfulness and top span."""
        if not self.shown:
            self.evidence.children = [_w().HTML("<i>open an item first</i>")]
            return
        method = self.evidence_method.value
        with self.busy(f"explaining {self.shown['row']['id']} with {method}"):
            audio = self.shown["audio"]
            expl = explain_clip(self.net, audio, methods=(method,), randomisation=None, item_id=str(self.shown["row"]["id"]))
            fig = plot_explanation(expl, audio.samples)
            warn = f"<b style='color:#c00'>⚠ {_esc(expl.banner)}</b><br>" if expl.banner else ""
            checks = "<br>".join(_esc(c) for c in expl.check_lines(method))
            flags = "".join(f"<br><b style='color:#c00'>⚠ {_esc(p)}</b>" for p in expl.problems(method))
            text = f"{warn}<b>{_esc(method)}</b> for <b>{_esc(expl.target)}</b>: {checks}{flags}<br>"
            self.shown["explanation"] = expl
            if expl.top_span is None:  # no span from a map that failed its checks, nor where no evidence is for the class
                text += f"<b style='color:#c00'>⚠ {_esc(expl.top_span_note)}</b>"
                self.evidence.children = [_w().HTML(text), png_widget(fig)]
                return
            s0, s1 = expl.top_span
            span = audio.samples[int(s0 * audio.sr): int(s1 * audio.sr)]
            text += f"top evidence {s0:.2f}–{s1:.2f} s:"
            self.evidence.children = [_w().HTML(text), player(span, audio.sr), png_widget(fig)]

    def neighbours(self, item_id: str, variant: str, k: int = 5):
        if self._emb is None or self._emb.variant != variant:
            self._emb = _run_embeddings(self.rf, variant)
        return neighbours(self._emb, item_id, k)

    def show(self, key):
        if not key:
            return
        item_id, variant = key
        with self.busy(f"opening {item_id} [{variant}]"):
            self._show(item_id, variant)

    def _show(self, item_id: str, variant: str):
        row = self.rf.row(item_id, variant)
        audio = self.rf.scored_audio(row)
        scores = row_scores(row)
        pred = _repredict(self.net, [audio], granularity="frame")[0]
        same_labels = list(pred.labels) == row_labels(row)  # a model with other labels than the run's cannot match it
        gap = float(np.max(np.abs(np.asarray(pred.scores, dtype=np.float64) - scores))) if same_labels else float("inf")
        self.current = row
        self.shown = {"row": row, "audio": audio, "scores": scores, "frame_scores": pred.frame_scores,
                      "repredicted": np.asarray(pred.scores), "gap": gap}
        self.audio.children = [player(audio.samples, audio.sr)]
        self.evidence.children = []  # the evidence shown belonged to the previous item
        seg = _segment_text(row)
        fig = plot_item(audio, scores, frame_scores=pred.frame_scores if same_labels else None, true=row.get("emotion") or None,
                        pred=row.get("pred"), labels=row_labels(row),
                        title=f"{item_id} [{variant}], {seg}: the audio the model scored")
        self.figure.children = [png_widget(fig)]
        findings = json.loads(row["findings"]) if row.get("findings") else []
        nn = self.neighbours(item_id, variant)
        nn_html = "".join(f"<li>{_esc(r.id)}: cos {r.cosine:.3f}, true {_esc(getattr(r, 'emotion', '') or '—')}, pred {_esc(r.pred)}</li>"
                          for r in nn.itertuples())
        chain = self.rf.variant(variant).chain()
        chain_text = " → ".join(s["name"] + "".join(f" {k}={v}" for k, v in s.items() if k != "name") for s in chain) or "no steps"
        check = (f"frame heatmap re-predicted from this audio: its scores match the row's (max |Δ| {gap:.1e})" if gap <= REPREDICTION_TOLERANCE
                 else f"<b style='color:#c00'>the re-prediction differs from the stored scores by {gap:.4f}</b>: the model loaded here "
                      f"is not the one that scored the run, or the audio changed; the bars show the stored scores")
        score_cells = "".join(f"<td>{_esc(k)} {s:.4f}</td>" for k, s in zip(row_labels(row), scores))
        self.detail.value = (
            f"<h4>{_esc(item_id)} [{_esc(variant)}]</h4>true <b>{_esc(row.get('emotion') or '—')}</b>, predicted <b>{_esc(row['pred'])}</b> "
            f"({float(row['confidence']):.3f}, margin {float(row['margin']):.3f}); speaker {_esc(row.get('speaker') or '—')}<br>"
            f"<b>audio as scored</b>: variant {_esc(variant)} ({_esc(chain_text)}), {_esc(seg)}, {audio.sr} Hz, {audio.duration:.3f} s<br>"
            f"<b>stored scores</b><table><tr>{score_cells}</tr></table><small>{check}</small><br>"
            f"<b>findings</b>{_findings_html(findings)}<b>nearest neighbours</b><ul>{nn_html}</ul>")


# ---------------------------------------------------------------------------
class EmbeddingMap(_View):
    """A run's utterance embeddings projected to 2-D (one variant); click a point to open the item.

    The map is a plotly ``FigureWidget``: one scatter trace per colour group,
    each with an ``on_click`` callback that opens the clicked item in ``browser``
    (a :class:`LowConfidenceBrowser` of the same run, made on first use).
    """

    def __init__(self, run_dir: str | Path | RunFolder, *, variant: str | None = None, color_by: str = "emotion",
                 method: str = "pca", browser: LowConfidenceBrowser | None = None, model: Any = None):
        import plotly.graph_objects as go

        W = _w()
        self.rf = as_run_folder(run_dir)
        res = self.rf.results()
        self.variant = variant or str(res["variant"].iloc[0])
        self.emb = _run_embeddings(self.rf, self.variant)
        self.xy = project(self.emb.matrix, method) if len(self.emb) >= 3 else np.zeros((len(self.emb), 2))
        rows = self.emb.rows
        if color_by == "correct":
            values = (rows["pred"].astype(str) == rows["emotion"].astype(str)).map({True: "right", False: "wrong"})
        else:
            values = rows[color_by].fillna("").astype(str).replace("", "—")
        self.browser = browser
        self._model = model
        self.groups: list[np.ndarray] = []
        self.plot = go.FigureWidget(layout=dict(height=440, width=680, margin=dict(l=10, r=10, t=70, b=10), clickmode="event",
                                                title=dict(text=f"{method.upper()} of {len(rows)} embeddings [{self.variant}], coloured by {color_by}"
                                                           "<br><sub>click a point to open the item</sub>", font=dict(size=14), y=0.96),
                                                xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False)))
        for v in sorted(values.unique()):
            idx = np.flatnonzero((values == v).to_numpy())
            self.groups.append(idx)
            self.plot.add_scatter(x=self.xy[idx, 0], y=self.xy[idx, 1], mode="markers", name=f"{v} ({len(idx)})",
                                  text=[f"{rows['id'].iloc[i]}: true {rows['emotion'].iloc[i] or '—'}, pred {rows['pred'].iloc[i]}" for i in idx],
                                  hoverinfo="text", marker=dict(size=9))
        for t, idx in zip(self.plot.data, self.groups):
            t.on_click(lambda trace, points, state, idx=idx: self.on_click(idx, points))
        self.browser_box = W.Box()
        self.widget = W.VBox([W.HTML(_banner(self.rf.random_weights)), self.plot, self._make_status(), self.browser_box])

    def on_click(self, group: np.ndarray, points):
        if not points.point_inds:
            return
        i = int(group[points.point_inds[0]])
        self.open(str(self.emb.rows["id"].iloc[i]))

    def open(self, item_id: str):
        with self.busy(f"opening {item_id}"):
            if self.browser is None:
                self.browser = LowConfidenceBrowser(self.rf, model=self._model)
                self.browser_box.children = [self.browser.widget]
            self.browser.select(item_id, self.variant)
        self.opened = (item_id, self.variant)


# ---------------------------------------------------------------------------
class ConfusionExplorer(_View):
    """The confusion matrix of one variant (chosen in ``variant_select``) as buttons; a click lists the
    cell's items; 'open' shows one in the browser."""

    def __init__(self, run_dir: str | Path | RunFolder, variant: str | None = None, browser: LowConfidenceBrowser | None = None,
                 model: Any = None):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.run_dir = self.rf.path
        self._results = self.rf.results()
        variants = list(dict.fromkeys(self._results["variant"].astype(str)))
        self.variant_select = W.Dropdown(options=variants, value=variant or variants[0], description="variant")
        self.browser = browser
        self._model = model
        self.heading = W.HTML()
        self.grid = W.VBox()
        self.items = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.caption = W.HTML()
        self.open_button = W.Button(description="open in browser")
        self.open_button.on_click(lambda _: self.open_item())
        self.browser_box = W.Box()
        self.variant_select.observe(lambda ch: self.set_variant(ch["new"]), names="value")
        self.widget = W.VBox([self.variant_select, self.heading, self.grid, self.caption, self.items, self.open_button,
                              self._make_status(), self.browser_box])
        self.set_variant(self.variant_select.value)

    def set_variant(self, variant: str) -> None:
        """Draw the confusion matrix of ``variant``; the cell list starts empty."""
        W = _w()
        res = self._results
        ok = select_rows(res, variant)
        ok = ok[ok["emotion"].fillna("").astype(str) != ""]
        self.rows_df, self.variant = ok, variant
        labels = score_labels(res)  # the model's classes: the nine, or a fine-tuned head's own
        self.classes = [c for c in labels if c in set(ok["emotion"])]
        self.cols = self.classes + [c for c in labels if c not in self.classes and c in set(ok["pred"])]
        self.cells: dict[tuple[str, str], Any] = {}
        grid = [W.HBox([W.Label("true \\ pred", layout=W.Layout(width="90px"))] + [W.Label(c, layout=W.Layout(width="70px")) for c in self.cols])]
        for t in self.classes:
            line = [W.Label(t, layout=W.Layout(width="90px"))]
            for p in self.cols:
                n = int(((ok["emotion"] == t) & (ok["pred"] == p)).sum())
                b = W.Button(description=str(n), layout=W.Layout(width="70px"), button_style="success" if t == p and n else ("warning" if n else ""))
                b.on_click(lambda _, t=t, p=p: self.open_cell(t, p))
                self.cells[(t, p)] = b
                line.append(b)
            grid.append(W.HBox(line))
        self.grid.children = grid
        self.heading.value = f"<h4>confusion ({_esc(variant)}): click a cell</h4>"
        self.items.options, self.caption.value = [], ""

    def open_cell(self, true: str, pred: str):
        df = self.rows_df[(self.rows_df["emotion"] == true) & (self.rows_df["pred"] == pred)].sort_values("confidence")
        self.caption.value = f"<b>{len(df)}</b> items with true <b>{_esc(true)}</b> predicted <b>{_esc(pred)}</b>"
        self.items.options = [(f"{r.id}  conf={r.confidence:.3f}  {r.finding_codes or ''}", r.id) for r in df.itertuples()]
        if len(df):
            self.items.value = df["id"].iloc[0]

    def open_item(self):
        if not self.items.value:
            return
        with self.busy(f"opening {self.items.value} [{self.variant}]"):
            if self.browser is None:
                self.browser = LowConfidenceBrowser(self.rf, model=self._model)
                self.browser_box.children = [self.browser.widget]
            self.browser.select(self.items.value, self.variant)


# ---------------------------------------------------------------------------
class ListenerErrorsBrowser(_View):
    """The items listeners agree on and the model gets wrong (its own errors, most confident first); 'open' shows one in the browser.

    ``agree``: the share of listeners that counts as agreeing (a slider); the list is
    :func:`workbench.analysis.listeners.evaluate_listeners`'s *listeners agree, model wrong*.
    """

    def __init__(self, run_dir: str | Path | RunFolder, variant: str | None = None, agree: float = 0.75,
                 browser: LowConfidenceBrowser | None = None, model: Any = None):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.results = self.rf.results()
        self.variant = pick_variant(self.results, variant, source=str(self.rf.path))
        if not listener_frame(self.results)["agreement"].notna().any():
            raise ConfigError("the run's items carry no listener judgements.", source=str(self.rf.path),
                              fix="attach them with `workbench datasets import-votes` and run again.")
        self.browser = browser
        self._model = model
        self.agree = W.FloatSlider(value=agree, min=0.05, max=1.0, step=0.05, description="listeners agree ≥",
                                   continuous_update=False, style={"description_width": "initial"})
        self.caption = W.HTML()
        self.items = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.open_button = W.Button(description="open in browser")
        self.open_button.on_click(lambda _: self.open_item())
        self.browser_box = W.Box()
        self.agree.observe(lambda _: self.refresh(), names="value")
        self.widget = W.VBox([W.HTML(_banner(self.rf.random_weights) + f"<h4>listeners agree, model wrong ({_esc(self.variant)})</h4>"),
                              self.agree, self.caption, self.items, self.open_button, self._make_status(), self.browser_box])
        self.refresh()

    def refresh(self):
        self.table = agree_wrong_frame(self.results, variant=self.variant, agree=float(self.agree.value), n_boot=0, top=100_000)
        self.caption.value = (f"<b>{len(self.table)}</b> items where at least {float(self.agree.value):.0%} of listeners agree "
                              "and the model says otherwise")
        self.items.options = [(f"{r.id}  listeners {r.listener_majority} ({r.agreement:.2f} of {r.n_raters:g})  model {r.pred} ({r.confidence:.3f})",
                               r.id) for r in self.table.itertuples()]

    def open_item(self):
        if not self.items.value:
            return
        with self.busy(f"opening {self.items.value} [{self.variant}]"):
            if self.browser is None:
                self.browser = LowConfidenceBrowser(self.rf, model=self._model)
                self.browser_box.children = [self.browser.widget]
            self.browser.select(self.items.value, self.variant)


# ---------------------------------------------------------------------------
class VariantDiff(_View):
    """Items whose prediction changed between two variants: each side plays the audio it was scored on, with its stored scores."""

    def __init__(self, run_dir: str | Path | RunFolder, a: str | None = None, b: str | None = None):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.run_dir = self.rf.path
        self.results = self.rf.results()
        variants = list(dict.fromkeys(self.results["variant"]))
        self.a = W.Dropdown(options=variants, value=a or variants[0], description="baseline")
        self.b = W.Dropdown(options=variants, value=b or variants[-1], description="variant")
        self.summary = W.HTML()
        self.flips = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.detail = W.HTML()
        self.players = W.HBox()
        self.shown: dict[str, dict] = {}
        for c in (self.a, self.b):
            c.observe(lambda _: self.refresh(), names="value")
        self.flips.observe(lambda ch: self.show(ch["new"]), names="value")
        self.widget = W.VBox([W.HBox([self.a, self.b]), self.summary, self.flips, self._make_status(), self.detail, self.players])
        self.refresh()

    def refresh(self):
        self.flips.value = None
        if self.a.value == self.b.value:
            self.table = None
            self.flips.options = []
            self.summary.value = "pick two different variants"
            self.flips.layout.display = "none"
            return
        sub = self.results[self.results["variant"].isin([self.a.value, self.b.value])]
        _, (c,), flips = compare_results(sub, baseline=self.a.value, n_boot=200)
        self.comparison, self.table = c, flips
        self.summary.value = _esc(c.render()) + (
            "" if len(flips) else f"<br><i>no item changed its label between {_esc(self.a.value)} and {_esc(self.b.value)}</i>")
        self.flips.layout.display = "" if len(flips) else "none"  # an empty list box reads as a broken view
        self.flips.options = [(f"{r.id}: {r.pred_baseline} ({r.confidence_baseline:.3f}) → {r.pred_variant} ({r.confidence_variant:.3f})"
                               f"  true={r.emotion or '—'}", r.id) for r in flips.itertuples()]

    def show(self, item_id):
        if not item_id:
            return
        with self.busy(f"opening {item_id}"):
            self._show(item_id)

    def _show(self, item_id: str):
        W = _w()
        r = self.table[self.table["id"] == item_id].iloc[0]
        self.detail.value = (f"<b>{_esc(item_id)}</b> true {_esc(r['emotion'] or '—')}<br>{_esc(self.a.value)}: <b>{_esc(r['pred_baseline'])}</b> "
                             f"{r['confidence_baseline']:.3f} [{_esc(r['findings_baseline'])}]<br>{_esc(self.b.value)}: <b>{_esc(r['pred_variant'])}</b> "
                             f"{r['confidence_variant']:.3f} [{_esc(r['findings_variant'])}]")
        out, shown = [], {}
        for name in (self.a.value, self.b.value):
            row = self.rf.row(item_id, name)
            audio = self.rf.scored_audio(row)
            scores = row_scores(row)
            shown[name] = {"row": row, "audio": audio, "scores": scores}
            top = ", ".join(f"{k} {s:.3f}" for k, s in sorted(zip(row_labels(row), scores), key=lambda ks: -ks[1])[:3])
            out.append(W.VBox([W.HTML(f"<b>{_esc(name)}</b>: {_esc(row['pred'])} {float(row['confidence']):.3f}<br><small>{_esc(top)}; "
                                      f"{_esc(_segment_text(row))}, {audio.duration:.2f} s as scored</small>"),
                               player(audio.samples, audio.sr)]))
        self.shown = shown
        self.players.children = out


# ---------------------------------------------------------------------------
def _heatmap_labels(heat: Any, summary: dict, n: int) -> list[str]:
    """The heatmap's classes: as ``heatmap.npz`` names them, else the model's in the summary; numbered when neither fits
    (never the nine guessed for a fine-tuned head's columns)."""
    for labels in (list(heat["labels"]) if "labels" in heat.files else None, (summary.get("model") or {}).get("labels")):
        if labels is not None and len(labels) == n:
            return [str(x) for x in labels]
    return [f"class {i}" for i in range(n)]


class LongAudioTimeline(_View):
    """A segmented long file (``workbench segment`` folder): heatmap and timeline you can click, playable spans.

    The figure is a plotly ``FigureWidget``: clicking a span of the timeline, or a
    cell of the heatmap (the span covering that time), plays that span and shows
    it in the detail line; the list below does the same without a mouse.
    """

    def __init__(self, segment_dir: str | Path):
        import pandas as pd

        W = _w()
        self.dir = Path(segment_dir)
        self.summary_data = json.loads((self.dir / "summary.json").read_text(encoding="utf-8"))
        self.timeline = pd.read_csv(self.dir / "timeline.csv")
        self.segments = pd.read_csv(self.dir / "segments.csv")
        self.source = source_path(self.dir, self.summary_data)
        heat = np.load(self.dir / "heatmap.npz")
        self.heatmap = heat["scores"]
        self.times = heat["times"] if "times" in heat.files else np.arange(len(self.heatmap)) * float(self.summary_data.get("grid_s", 0.1))
        self.labels = _heatmap_labels(heat, self.summary_data, self.heatmap.shape[1])
        s = self.summary_data
        head = (_banner(bool(s.get("random_weights"))) +
                f"<h4>{_esc(self.source.name)}</h4>{s['duration_s']:.1f} s, {s['n_segments']} segments, dominant <b>{_esc(s['dominant_emotion'] or '—')}</b>"
                " — click a span of the timeline (or a point of the heatmap) to play it")
        self.plot = self._figure()
        self.spans = W.Select(options=[(f"{r.start:8.2f}–{r.end:8.2f} s  {r.label:<9} conf {r.confidence:.3f} ({r.n_segments} seg)", i)
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
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        tl = self.timeline
        colors = [palette[self.labels.index(lab) % 10] if lab in self.labels else "#000" for lab in tl["label"]]
        fig.add_trace(go.Bar(x=(tl["end"] - tl["start"]).to_numpy(), base=tl["start"].to_numpy(), y=["spans"] * len(tl), orientation="h",
                             marker=dict(color=colors, line=dict(color="white", width=1)), text=list(tl["label"]), textposition="inside",
                             insidetextanchor="middle", showlegend=False,
                             hovertemplate="%{base:.2f}–%{x:.2f} s<extra></extra>",
                             customdata=np.arange(len(tl))), row=2, col=1)
        fig.update_layout(height=400, margin=dict(l=10, r=10, t=60, b=40), clickmode="event", bargap=0,
                          title=dict(text=("RANDOM WEIGHTS — " if self.summary_data.get("random_weights") else "") + "frame scores and merged timeline",
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


__all__ = ["ConfusionExplorer", "EmbeddingMap", "LongAudioTimeline", "LowConfidenceBrowser", "SampleRateExplorer", "TrimmingInspector",
           "VariantDiff", "plot_item", "player", "player_samples", "wav_bytes"]
