"""Views of one run's items: the low-confidence browser (one item in detail, its evidence) and the embedding map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.schema import text_values
from workbench.analysis.embeddings import RunEmbeddings, identical_words, neighbours, project_run, projection_axis_labels, projection_trust
from workbench.explain.attribution import METHODS as EVIDENCE_METHODS
from workbench.explain.explanation import explain_clip
from workbench.explain.figure import plot_explanation
from workbench.model.network import Emotion2vecModel
from workbench.runs.folder import RunFolder, as_run_folder, select_rows
from workbench.serialize import loads_json
from workbench.views.html import prose
from workbench.views.viewbase import (REPREDICTION_TOLERANCE, _View, _run_banner, _codes, _esc, _findings_html, _repredict, _run_embeddings,
                                      _run_model, _segment_text, _w, player, plot_item, png_widget, row_labels, row_scores)

#: the checks of a method's map in the explanation JSON, by the words the panel uses for them
CHECK_NAMES = {"faithfulness": "faithfulness (deletion/insertion)", "randomisation": "model-randomisation check",
               "completeness": "IG completeness", "stability": "stability over baseline seeds"}
RANDOMISATION_SKIPPED = ("left out by the Evidence panel (it costs one more attribution per randomised stage; "
                         "`workbench explain FILE --randomisation full` runs it)")


def true_text(emotion: Any, label: Any) -> str:
    """An item's truth as a widget says it (plain text: escape it): its class, else its label and that the label is none
    of the model's classes (such an item read "true —", as though it had none), else "—"."""
    def text(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v).strip()

    if text(emotion):
        return text(emotion)
    return f"labelled {text(label)}, none of the model's classes" if text(label) else "—"


def skipped_check_lines(expl: Any, method: str) -> list[str]:
    """Lines for the checks of ``method`` that :meth:`Explanation.check_lines` does not state, read from the
    explanation's JSON: a check that carries a ``status`` (skipped, not applicable …) with its reason, and a
    model-randomisation check that ran to no rank correlation.  Nothing the JSON holds about a check is left unsaid; a
    randomisation check that did not run is check_lines' own line (said twice before, once as "randomisation=None")."""
    entry = expl.to_dict()["methods"][method]
    checks = {"faithfulness": entry.get("faithfulness"), "randomisation": entry.get("randomisation"),
              **((entry.get("attribution") or {}).get("checks") or {})}
    lines = []
    for name, value in checks.items():
        label = CHECK_NAMES.get(name, name)
        if isinstance(value, dict) and value.get("status") is not None:
            reason = value.get("reason") or value.get("note")
            lines.append(f"{label}: {value['status']}" + (f" ({reason})" if reason else ""))
        elif name == "randomisation" and (value is None or value.get("skipped")):
            continue  # {"passed": null, "skipped": why}: check_lines says it, with the reason the panel set
        elif name == "randomisation" and not any(st.get("spearman") is not None for st in value.get("stages", [])):
            lines.append(f"{label}: undetermined (no finite rank correlation with the re-initialised network)")
    return lines


# ---------------------------------------------------------------------------
class LowConfidenceBrowser(_View):
    """Filter a run's items and open one: the audio it was scored on, its scores, frame timeline, findings, neighbours.

    After :meth:`show`, ``.shown`` holds what is on screen: ``row`` (the results row),
    ``audio`` (the scored audio in the player and the waveform), ``scores`` (the
    stored scores in the bar chart), ``frame_scores`` and ``repredicted`` (the
    re-prediction of that audio) and ``gap`` (max |Δ| between the two).

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder.
    model : ModelRef, str or None
        The model for re-predictions and evidence; default the run's own (its checksum is checked).
    threshold : float
        Items with a confidence below it are listed at first (the slider).

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> browser = wb.LowConfidenceBrowser(run_dir, threshold=1.0)
    >>> browser.count.value                       # every scored item is below confidence 1
    '<b>53</b> of 53 items'
    >>> item_id, variant = browser.table.options[0][1]   # the least confident first
    >>> browser.select(item_id, variant)          # as a click on the list does
    >>> float(browser.shown["gap"]) < 1e-4        # the frame heatmap's re-prediction matches the stored scores
    True
    """

    def __init__(self, run_dir: str | Path | RunFolder, model: Any = None, threshold: float = 0.6):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.run_dir = self.rf.path
        self.results = self.rf.results()
        self.ok = select_rows(self.results).copy()
        self._model_arg = model
        self._net = self._grad_net = None
        codes = sorted({c for s in text_values(self.ok["finding_codes"]) for c in s.split(",") if c})

        def opts(col):
            vals = sorted({str(v) for v in text_values(self.ok[col]) if str(v)}) if col in self.ok.columns else []
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
            W.HTML(_run_banner(self.rf) + f"<h4>{_esc(self.run_dir.name)}</h4>"),
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

    @property
    def gradient_net(self) -> Emotion2vecModel:
        """The model the Evidence panel explains with: the run's, differentiable (float32 PyTorch for a run scored
        through ONNX Runtime or in int8; the same object otherwise)."""
        if self._grad_net is None:
            self._grad_net = _run_model(self.rf, self._model_arg, gradients=True)
        return self._grad_net

    def filtered(self):
        df = self.ok[self.ok["confidence"].astype(float) < float(self.threshold.value)]
        if self.finding.value != "(any)":
            df = df[text_values(df["finding_codes"]).str.split(",").apply(lambda cs: self.finding.value in cs)]
        for ctl, col in ((self.true_label, "emotion"), (self.pred_label, "pred"), (self.variant, "variant"), (self.speaker, "speaker")):
            if ctl.value != "(any)":
                df = df[text_values(df[col]) == ctl.value]
        return df.sort_values("confidence")

    def refresh(self):
        df = self.filtered()
        self.count.value = f"<b>{len(df)}</b> of {len(self.ok)} items"
        options = [(f"{r.id} [{r.variant}]  true={true_text(r.emotion, getattr(r, 'label', ''))}  pred={r.pred}  conf={r.confidence:.3f}  {_codes(r.finding_codes)}", (r.id, r.variant))
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
            net = self.gradient_net
            expl = explain_clip(net, audio, methods=(method,), randomisation=None, item_id=str(self.shown["row"]["id"]))
            expl.randomisation_skipped = RANDOMISATION_SKIPPED  # the panel's reason, not the API's "randomisation=None"
            fig = plot_explanation(expl, audio.samples)
            warn = f"<b style='color:#c00'>⚠ {_esc(expl.banner)}</b><br>" if expl.banner else ""
            scored, used = self.net.info.dtype, net.info.dtype
            if scored != used:  # never another precision than the row's without a word, as `workbench explain` says it
                warn += f"explained with the {_esc(used)} network of the same weights (the run scored in {_esc(scored)}; gradients need PyTorch)<br>"
            # a line's backticked command as code, as the reports show them (the panel showed the backticks)
            checks = "<br>".join(prose(c) for c in expl.check_lines(method) + skipped_check_lines(expl, method))
            flags = "".join(f"<br><b style='color:#c00'>⚠ {prose(p)}</b>" for p in expl.problems(method))
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
        findings = loads_json(row["findings"]) if row.get("findings") else []
        nn = self.neighbours(item_id, variant)
        labels = dict(zip(text_values(self.results["id"]), text_values(self.results["label"]))) if "label" in self.results.columns else {}
        nn_html = "".join(f"<li>{_esc(r.id)}: cos {r.cosine:.3f}, true {_esc(true_text(getattr(r, 'emotion', ''), labels.get(str(r.id))))}, "
                          f"pred {_esc(r.pred)}</li>" for r in nn.itertuples())
        chain = self.rf.variant(variant).chain()
        chain_text = " → ".join(s["name"] + "".join(f" {k}={v}" for k, v in s.items() if k != "name") for s in chain) or "no steps"
        check = (f"frame heatmap re-predicted from this audio: its scores match the row's (max |Δ| {gap:.1e})" if gap <= REPREDICTION_TOLERANCE
                 else f"<b style='color:#c00'>the re-prediction differs from the stored scores by {gap:.4f}</b>: the model loaded here "
                      f"is not the one that scored the run, or the audio changed; the bars show the stored scores")
        score_cells = "".join(f"<td>{_esc(k)} {s:.4f}</td>" for k, s in zip(row_labels(row), scores))
        self.detail.value = (
            f"<h4>{_esc(item_id)} [{_esc(variant)}]</h4>true <b>{_esc(true_text(row.get('emotion'), row.get('label')))}</b>, predicted <b>{_esc(row['pred'])}</b> "
            f"({float(row['confidence']):.3f}, margin {float(row['margin']):.3f}); speaker {_esc(row.get('speaker') or '—')}<br>"
            f"<b>audio as scored</b>: variant {_esc(variant)} ({_esc(chain_text)}), {_esc(seg)}, {audio.sr} Hz, {audio.duration:.3f} s<br>"
            f"<b>stored scores</b><table><tr>{score_cells}</tr></table><small>{check}</small><br>"
            f"<b>findings</b>{_findings_html(findings)}<b>nearest neighbours</b><ul>{nn_html}</ul>{_cosine_reference(nn)}")


def _cosine_reference(nn) -> str:
    """The neighbours' cosines beside the item's cosines with the whole run (``neighbours``' reference), as the screen
    has them: on anisotropic embeddings a bare "cos 0.994" says little."""
    ref = nn.attrs.get("reference") or {}
    return (f"<small>its cosine with each of the run's {ref['items']} other items: median {ref['median']:.3f}, range "
            f"{ref['min']:.3f} to {ref['max']:.3f}</small>" if ref.get("items") else "")


# ---------------------------------------------------------------------------
class EmbeddingMap(_View):
    """A run's utterance embeddings projected to 2-D (one variant); click a point to open the item.

    The map is a plotly ``FigureWidget``: one scatter trace per colour group,
    each with an ``on_click`` callback that opens the clicked item in ``browser``
    (a :class:`LowConfidenceBrowser` of the same run, made on first use).
    A UMAP or t-SNE projection comes from the run folder's cache when these
    embeddings were projected before (``.projection_cached``).

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder with embeddings.
    variant : str, optional
        The variant whose embeddings are shown (default the run's first).
    color_by : str
        A results column (``emotion``, ``pred``, ``speaker`` …) or ``correct``.
    method : {"pca", "umap", "tsne"}
        The projection.
    browser : LowConfidenceBrowser, optional
        Where a clicked item opens (default: one made on the first click).
    model : ModelRef, str or None
        The model of that browser (default the run's own).

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> emb_map = wb.EmbeddingMap(run_dir, color_by="emotion")
    >>> emb_map.xy.shape
    (53, 2)
    >>> [trace.name for trace in emb_map.plot.data]   # one trace per colour, with its count
    ['angry (12)', 'happy (15)', 'neutral (12)', 'sad (12)', 'surprised (1)', 'no emotion (1)']
    >>> emb_map.open(str(emb_map.emb.rows["id"].iloc[0]))   # as a click on that point does
    >>> emb_map.opened == (emb_map.browser.shown["row"]["id"], "raw")
    True
    """

    def __init__(self, run_dir: str | Path | RunFolder, *, variant: str | None = None, color_by: str = "emotion",
                 method: str = "pca", browser: LowConfidenceBrowser | None = None, model: Any = None):
        import plotly.graph_objects as go

        W = _w()
        self.rf = as_run_folder(run_dir)
        res = self.rf.results()
        self.variant = variant or str(res["variant"].iloc[0])
        self.emb = _run_embeddings(self.rf, self.variant)
        # UMAP and t-SNE come from the run folder's cache when the same embeddings were projected before (CLI, report, another map)
        self.xy, self.projection_cached = project_run(self.emb, method) if len(self.emb) >= 3 else (np.zeros((len(self.emb), 2)), False)
        rows = self.emb.rows
        self.one_point = identical_words(self.emb.matrix)  # said in the map's subtitle: one dot could pass for a failed plot
        self.trust = projection_trust(self.emb.matrix, self.xy)  # a map that keeps few neighbourhoods says so there too
        # the map's check on every map, as the CLI prints it (a map of 9 items, too few to measure, said nothing)
        t = self.trust
        subtitle = (f"⚠ {_esc(t['flag'].split(':')[0])}: trustworthiness {t['trustworthiness']:.3f}, a random layout {t['random_layout']:.3f}"
                    if t["flag"] else f"trustworthiness {t['trustworthiness']:.3f} (a random layout {t['random_layout']:.3f})"
                    if t["trustworthiness"] is not None else _esc(t["words"])) + "; click a point to open the item"
        if color_by != "correct" and color_by not in rows.columns:
            raise ValueError(f"EmbeddingMap: color_by={color_by!r} is not a column of the run's rows; "
                             f"use 'correct' or one of {sorted(map(str, rows.columns))}")
        if color_by == "correct":
            values = (rows["pred"].astype(str) == rows["emotion"].astype(str)).map({True: "right", False: "wrong"})
        else:
            values = text_values(rows[color_by]).replace("", f"no {color_by}")  # as the CLI's map: "— (1)" said nothing
        self.browser = browser
        self._model = model
        self.groups: list[np.ndarray] = []
        # the axes are named as in the CLI's figures: PCA's with their share of the variance, UMAP's and t-SNE's by number
        xlabel, ylabel = projection_axis_labels(method, self.emb.matrix, self.xy) if len(self.emb) >= 3 else projection_axis_labels(method)
        self.plot = go.FigureWidget(layout=dict(height=440, width=680, margin=dict(l=45, r=10, t=70, b=40), clickmode="event",
                                                title=dict(text=f"{_esc(method.upper())} of {len(rows)} embeddings [{_esc(self.variant)}], coloured by {_esc(color_by)}"
                                                           f"<br><sub>{_esc(self.one_point) or subtitle}</sub>",
                                                           font=dict(size=14), y=0.96),
                                                xaxis=dict(showticklabels=False, title=dict(text=xlabel)),
                                                yaxis=dict(showticklabels=False, title=dict(text=ylabel))))
        for v in sorted(values.unique(), key=lambda v: (v == f"no {color_by}", v)):
            idx = np.flatnonzero((values == v).to_numpy())
            self.groups.append(idx)
            self.plot.add_scatter(x=self.xy[idx, 0], y=self.xy[idx, 1], mode="markers", name=_esc(f"{v} ({len(idx)})"),  # plotly renders legend, title and hover text as HTML
                                  text=[_esc(f"{rows['id'].iloc[i]}: true {true_text(rows['emotion'].iloc[i], rows['label'].iloc[i] if 'label' in rows else '')}, "
                                              f"pred {rows['pred'].iloc[i]}") for i in idx],
                                  hoverinfo="text", marker=dict(size=9))
        for t, idx in zip(self.plot.data, self.groups):
            t.on_click(lambda trace, points, state, idx=idx: self.on_click(idx, points))
        self.browser_box = W.Box()
        self.widget = W.VBox([W.HTML(_run_banner(self.rf)), self.plot, self._make_status(), self.browser_box])

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
