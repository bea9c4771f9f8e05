"""Views of a run's errors: the confusion matrix as buttons, the items listeners agree the model gets wrong, the flips between two variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.analysis.compare import compare_results
from workbench.analysis.groups import FIGURE_NAMES, chance_words
from workbench.analysis.listeners import evaluate_listeners, listeners_words, votes_fix
from workbench.analysis.metrics import headline_summary
from workbench.data.listeners import listener_frame
from workbench.errors import ConfigError
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant, select_rows
from workbench.schema import score_labels, text_values
from workbench.views.run_browser import LowConfidenceBrowser
from workbench.views.viewbase import _View, _run_banner, _codes, _esc, _segment_text, _w, player, row_labels, row_scores

# ---------------------------------------------------------------------------


def agree_wrong_frame(results, **kwargs):
    """The *listeners agree, model wrong* rows as a DataFrame (for widgets and reports); kwargs as :func:`evaluate_listeners`."""
    import pandas as pd

    rep = evaluate_listeners(results, **kwargs)
    return pd.DataFrame(rep.listeners_agree_model_wrong,
                        columns=["id", "emotion", "listener_majority", "agreement", "n_raters", "pred", "confidence", "jsd", "path"])


class _ListThenOpen(_View):
    """A view that lists a run's items (``self.items``) and opens the chosen one in a browser below the list."""

    def open_item(self):
        if not self.items.value:
            return
        with self.busy(f"opening {self.items.value} [{self.variant}]"):
            if self.browser is None:
                self.browser = LowConfidenceBrowser(self.rf, model=self._model)
                self.browser_box.children = [self.browser.widget]
            self.browser.select(self.items.value, self.variant)


class ConfusionExplorer(_ListThenOpen):
    """The confusion matrix of one variant (chosen in ``variant_select``) as buttons; a click lists the
    cell's items; 'open' shows one in the browser.

    Rows are the corpus labels, columns the model's classes that were predicted
    (the model's own labels: the nine, or a fine-tuned head's).

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder.
    variant : str, optional
        The variant shown first (default the run's first).
    browser : LowConfidenceBrowser, optional
        Where 'open' shows an item (default: one made on first use).
    model : ModelRef, str or None
        The model of that browser (default the run's own).

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> explorer = wb.ConfusionExplorer(run_dir)
    >>> explorer.classes
    ['angry', 'happy', 'neutral', 'sad', 'surprised']
    >>> explorer.cells[("sad", "disgusted")].click()     # as a user clicks that cell
    >>> explorer.caption.value
    '<b>...</b> items with true <b>sad</b> predicted <b>disgusted</b>'
    >>> len(explorer.items.options) == int(explorer.cells[("sad", "disgusted")].description)
    True
    """

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
        ok = ok[text_values(ok["emotion"]) != ""]
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
        self.heading.value = _run_banner(self.rf) + f"<h4>confusion ({_esc(variant)}): click a cell</h4>" + _headline_html(res, variant)
        self.items.options, self.caption.value = [], ""

    def open_cell(self, true: str, pred: str):
        df = self.rows_df[(self.rows_df["emotion"] == true) & (self.rows_df["pred"] == pred)].sort_values("confidence")
        self.caption.value = f"<b>{len(df)}</b> items with true <b>{_esc(true)}</b> predicted <b>{_esc(pred)}</b>"
        self.items.options = [(f"{r.id}  conf={r.confidence:.3f}  {_codes(r.finding_codes)}", r.id) for r in df.itertuples()]
        if len(df):
            self.items.value = df["id"].iloc[0]

def _headline_html(results, variant: str) -> str:
    """WA, UAR and macro-F1 of the matrix with their intervals, and each failed check under them in the words ``workbench
    metrics`` and ``run`` print (AT CHANCE, few items, zero width, small classes): the matrix shown without them read as
    a measurement whatever it rested on."""
    h = headline_summary(results, variant=variant)
    if not h["n"]:
        return ""
    figures = ", ".join(f"{FIGURE_NAMES[k]} {h[k]:.3f} [{h['ci'][k][0]:.3f}, {h['ci'][k][1]:.3f}]" for k in ("wa", "uar", "macro_f1"))
    return (f"<p>{_esc(figures)} (n={h['n']}; UAR {_esc(chance_words(h['classes']))}; 95 % intervals {_esc(h['ci_unit']['words'])})</p>"
            + "".join(f"<p><b>⚠ {_esc(f)}</b></p>" for f in h["flags"] + [h["ci_unit"]["note"]] * bool(h["ci_unit"]["note"])))


# ---------------------------------------------------------------------------
class ListenerErrorsBrowser(_ListThenOpen):
    """The items listeners agree on and the model gets wrong (its own errors, most confident first); 'open' shows one in the browser.

    ``agree``: the share of listeners that counts as agreeing (a slider); the list is
    :func:`workbench.analysis.listeners.evaluate_listeners`'s *listeners agree, model wrong*.

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run whose manifest carries listener judgements (vote columns; ``workbench datasets
        import-votes`` attaches a corpus's own).
    variant : str, optional
        The variant listed (default the run's first).
    agree : float
        The share of listeners that counts as agreeing, at first (the slider).
    browser : LowConfidenceBrowser, optional
        Where 'open' shows an item (default: one made on first use).
    model : ModelRef, str or None
        The model of that browser (default the run's own).

    Examples
    --------
    The demo set has no listeners, and the view says so instead of an empty list:

    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> wb.ListenerErrorsBrowser(run_dir)
    Traceback (most recent call last):
        ...
    workbench.errors.ConfigError: ...the run's items carry no listener judgements... Fix: attach them to the run's manifest with `workbench datasets import-votes ...`, then run `workbench listeners NEW_RUN`.
    """

    def __init__(self, run_dir: str | Path | RunFolder, variant: str | None = None, agree: float = 0.75,
                 browser: LowConfidenceBrowser | None = None, model: Any = None):
        W = _w()
        self.rf = as_run_folder(run_dir)
        self.results = self.rf.results()
        self.variant = pick_variant(self.results, variant, source=str(self.rf.path))
        if not listener_frame(self.results)["agreement"].notna().any():
            raise ConfigError("the run's items carry no listener judgements.", source=str(self.rf.path),
                              fix=votes_fix(self.rf))
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
        self.widget = W.VBox([W.HTML(_run_banner(self.rf) + f"<h4>listeners agree, model wrong ({_esc(self.variant)})</h4>"),
                              self.agree, self.caption, self.items, self.open_button, self._make_status(), self.browser_box])
        self.refresh()

    def refresh(self):
        self.table = agree_wrong_frame(self.results, variant=self.variant, agree=float(self.agree.value), n_boot=0, top=100_000)
        one = int((self.table["n_raters"] == 1).sum()) if len(self.table) else 0  # 1 of 1 is no agreement measured
        self.caption.value = (f"<b>{len(self.table)}</b> items where at least {float(self.agree.value):.0%} of listeners agree "
                              "and the model says otherwise" + (f"<br><b>⚠ {one} of them judged by one listener</b>: their agreement "
                                                                "is 1 of 1 by construction, not agreement measured" if one else ""))
        self.items.options = [(f"{r.id}  listeners {r.listener_majority} ({listeners_words(r.agreement, r.n_raters)})  model {r.pred} ({r.confidence:.3f})",
                               r.id) for r in self.table.itertuples()]



# ---------------------------------------------------------------------------
class VariantDiff(_View):
    """Items whose prediction changed between two variants: each side plays the audio it was scored on, with its stored scores.

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run with two or more variants.
    a, b : str, optional
        The baseline and the variant compared (default the run's first and last).

    Examples
    --------
    >>> variants = [wb.Variant("raw"), wb.Variant("telephone", ({"name": "telephone"},))]
    >>> run_dir = wb.demo_run("runs/demo_variants", "tiny", variants)
    >>> diff = wb.VariantDiff(run_dir)
    >>> diff.a.value, diff.b.value
    ('raw', 'telephone')
    >>> len(diff.flips.options) == len(diff.table)         # every flip listed, with McNemar above
    True
    >>> diff.b.value = "raw"
    >>> diff.summary.value
    'pick two different variants'
    """

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
        self.widget = W.VBox([W.HTML(_run_banner(self.rf)), W.HBox([self.a, self.b]), self.summary, self.flips,
                              self._make_status(), self.detail, self.players])
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
        # each "!!" check on a line of its own, bold, as the confusion explorer shows them: in one paragraph with the
        # figures they read as more of the sentence
        head, *flags = c.render().split("\n")
        self.summary.value = (f"<p>{_esc(head)}</p>" + "".join(f"<p><b>⚠ {_esc(f.strip().removeprefix('!! '))}</b></p>" for f in flags)
                              + ("" if len(flips) else f"<p><i>no item changed its label between {_esc(self.a.value)} and "
                                                       f"{_esc(self.b.value)}</i></p>"))
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
