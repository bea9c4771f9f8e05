"""ipywidgets views for notebooks: look at one clip, one run, one long file.

Every view is a class whose ``.widget`` is the ipywidgets container (the class
displays itself in a notebook).  Controls are public attributes, so tests and
scripts drive a view exactly as a user does: set ``.value``, call
``.click()``, then read what the view shows (``.summary.value``,
``.table.options`` …).  Logic lives in the rest of the package; these classes
only wire it to controls.

=======================  ====================================================
view                     what it shows
=======================  ====================================================
TrimmingInspector        source and processed waveform on one time axis,
                         removed regions shaded, samples cut, both playable
SampleRateExplorer       spectrograms before/after a source rate, resampler
                         or telephone channel, the nine scores, label change
LowConfidenceBrowser     a run's items filtered by confidence, finding,
                         label, variant, speaker; one item in detail
ConfusionExplorer        the confusion matrix as buttons; a cell's items
VariantDiff              the flips between two variants, both playable
LongAudioTimeline        a segmented file's timeline and heatmap; a span's audio
=======================  ====================================================
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .labels import LABEL_KEYS


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
    """16-bit WAV bytes for an audio player."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float32), -1, 1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def player(y: np.ndarray, sr: int):
    return _w().Audio(value=wav_bytes(y, sr), format="wav", autoplay=False, loop=False)


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
    from .model import RANDOM_WEIGHTS_BANNER

    return f"<div style='background:#fdd;padding:4px;border:1px solid #c00'><b>{_esc(RANDOM_WEIGHTS_BANNER)}</b></div>"


def _findings_html(findings: Sequence[dict]) -> str:
    if not findings:
        return "<i>no findings</i>"
    items = "".join(
        f"<li><b>{_esc(f.get('severity', ''))}</b> <code>{_esc(f['code'])}</code>: {_esc(f.get('message', ''))}"
        f"<br><small>→ {_esc(f.get('suggestion', ''))}</small></li>" for f in findings)
    return f"<ul>{items}</ul>"


class _View:
    widget: Any

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------------------
class TrimmingInspector(_View):
    """Compare a clip's intake with a preprocessing chain: what was removed, and where."""

    DEFAULT_CHAINS = {
        "intake only": [],
        "trim top_db=30": [{"name": "trim", "top_db": 30}],
        "trim top_db=20": [{"name": "trim", "top_db": 20}],
        "denoise + trim": [{"name": "denoise", "stationary": True}, {"name": "trim", "top_db": 30}],
        "telephone": [{"name": "telephone"}],
    }

    def __init__(self, path: str | Path, chains: dict[str, list] | None = None):
        from .audio import load

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
        self.widget = W.VBox([W.HTML(f"<h4>{_esc(self.path.name)}</h4>"), self.chain, self.figure, self.players, self.summary, self.findings])
        self.update()

    def update(self):
        from .diagnostics import audio_facts, findings_from
        from .preprocess import apply_chain

        W = _w()
        steps = self.chains[self.chain.value]
        processed = apply_chain(self.source, steps) if steps else self.source
        if processed.sr != self.source.sr:
            from .audio import resample

            processed = resample(processed, self.source.sr)
        self.processed = processed
        cut_start, cut_end = processed.log.total_cut()
        added = sum(s.added_start + s.added_end for s in processed.log.steps)
        sr = self.source.sr
        plt = _plt()
        fig, ax = plt.subplots(figsize=(9, 2.6))
        t = np.arange(len(self.source.samples)) / sr
        ax.plot(t, self.source.samples, lw=0.5, color="#999999", label=f"intake ({self.source.duration:.3f} s)")
        start = cut_start
        tp = start + np.arange(len(processed.samples)) / processed.sr
        ax.plot(tp, processed.samples, lw=0.5, color="#1f77b4", alpha=0.8, label=f"{self.chain.value} ({processed.duration:.3f} s)")
        if cut_start > 0:
            ax.axvspan(0, cut_start, color="red", alpha=0.15, label=f"removed {cut_start * 1000:.0f} ms at start")
        if cut_end > 0:
            ax.axvspan(self.source.duration - cut_end, self.source.duration, color="orange", alpha=0.2, label=f"removed {cut_end * 1000:.0f} ms at end")
        ax.set_xlabel("time in the source (s)")
        ax.legend(fontsize=7, loc="upper right")
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
        found = findings_from(audio_facts(processed))
        self.findings.value = "<b>findings</b>" + _findings_html([f.to_dict() for f in found])


# ---------------------------------------------------------------------------
class SampleRateExplorer(_View):
    """What a lower source rate, another resampler or a telephone channel does to the scores."""

    RATES = (8000, 11025, 16000, 22050, 44100, 48000)

    def __init__(self, path: str | Path, model: Any = None):
        from .audio import AudioConfig, decode, to_mono
        from .model import Emotion2vecModel, load_model

        W = _w()
        self.path = Path(path)
        self.net = model if isinstance(model, Emotion2vecModel) else load_model(model)
        self.decoded = to_mono(decode(self.path))
        self.rate = W.Dropdown(options=list(self.RATES), value=8000, description="source rate")
        self.resampler = W.Dropdown(options=["soxr", "scipy", "librosa"], value="soxr", description="resampler")
        self.telephone = W.Checkbox(value=False, description="telephone channel")
        self.run_button = W.Button(description="compare", button_style="primary")
        self.result = W.HTML()
        self.figure = W.Box()
        self.players = W.HBox()
        self.run_button.on_click(lambda _: self.update())
        self.widget = W.VBox([W.HTML(_banner(self.net.random_weights) + f"<h4>{_esc(self.path.name)}</h4>"),
                              W.HBox([self.rate, self.resampler, self.telephone, self.run_button]), self.result, self.figure, self.players])
        self._config = AudioConfig()
        self.update()

    def update(self):
        from .runs import Variant, prepare_variant

        W = _w()
        steps = [{"name": "resample", "sr": int(self.rate.value), "method": self.resampler.value}]
        if self.telephone.value:
            steps.append({"name": "telephone"})
        ref = prepare_variant(self.decoded, Variant("original"), self._config)
        var = prepare_variant(self.decoded, Variant("variant", tuple(steps)), self._config)
        pa, pb = self.net.predict([ref, var])
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
        x = np.arange(len(LABEL_KEYS))
        axes[2].barh(x - 0.2, pa.scores, height=0.4, label="original")
        axes[2].barh(x + 0.2, pb.scores, height=0.4, label="variant")
        axes[2].set_yticks(x, LABEL_KEYS, fontsize=7)
        axes[2].legend(fontsize=7)
        fig.tight_layout()
        self.figure.children = [png_widget(fig)]
        self.players.children = [player(ref.samples, ref.sr), player(var.samples, var.sr)]


# ---------------------------------------------------------------------------
class LowConfidenceBrowser(_View):
    """Filter a run's items and open one: audio, waveform, frame timeline, scores, findings, neighbours."""

    def __init__(self, run_dir: str | Path, model: Any = None, threshold: float = 0.6):
        import pandas as pd

        W = _w()
        self.run_dir = Path(run_dir)
        self.results = pd.read_parquet(self.run_dir / "results.parquet")
        self.ok = self.results[self.results["status"] == "ok"].copy()
        summary = json.loads((self.run_dir / "summary.json").read_text(encoding="utf-8")) if (self.run_dir / "summary.json").is_file() else {}
        self._model_arg = model
        self._net = None
        self._summary = summary
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
        for c in (self.threshold, self.finding, self.true_label, self.pred_label, self.variant, self.speaker):
            c.observe(lambda _: self.refresh(), names="value")
        self.table.observe(lambda ch: self.show(ch["new"]), names="value")
        self.widget = W.VBox([
            W.HTML(_banner(bool(summary.get("random_weights"))) + f"<h4>{_esc(self.run_dir.name)}</h4>"),
            W.HBox([self.threshold, self.finding]), W.HBox([self.true_label, self.pred_label]), W.HBox([self.variant, self.speaker]),
            self.count, self.table, self.audio, self.figure, self.detail,
        ])
        self._emb = None
        self.refresh()

    @property
    def net(self):
        if self._net is None:
            from .model import Emotion2vecModel, load_model

            m = self._model_arg
            if not isinstance(m, Emotion2vecModel):
                info = self._summary.get("model", {})
                m = load_model(m or ("tiny" if info.get("random_weights") and info.get("kind") == "random" else info.get("path") or info.get("id")))
            self._net = m
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
        self.table.options = [
            (f"{r.id} [{r.variant}]  true={r.emotion or '—'}  pred={r.pred}  conf={r.confidence:.3f}  {r.finding_codes or ''}", (r.id, r.variant))
            for r in df.itertuples()]

    def select(self, item_id: str, variant: str | None = None):
        """Open an item (used by the confusion explorer)."""
        rows = self.ok[(self.ok["id"] == item_id) & ((self.ok["variant"] == variant) if variant else True)]
        if not len(rows):
            raise KeyError(f"{item_id} is not among the run's successful items")
        key = (item_id, rows["variant"].iloc[0])
        if key not in [v for _, v in self.table.options]:
            self.threshold.value = 1.0
            for c in (self.finding, self.true_label, self.pred_label, self.variant, self.speaker):
                c.value = "(any)"
        self.table.value = key

    def neighbours(self, item_id: str, variant: str, k: int = 5):
        from .embeddings import load_run_embeddings, neighbours

        if self._emb is None or self._emb.variant != variant:
            self._emb = load_run_embeddings(self.run_dir, variant=variant)
        return neighbours(self._emb, item_id, k)

    def show(self, key):
        if not key:
            return
        from .audio import load

        W = _w()
        from .runs import item_path

        item_id, variant = key
        row = self.ok[(self.ok["id"] == item_id) & (self.ok["variant"] == variant)].iloc[0]
        self.current = row
        audio = load(item_path(self.run_dir, row["path"]))
        if row.get("start") is not None and not (isinstance(row.get("start"), float) and np.isnan(row["start"])):
            s0 = int(float(row["start"]) * audio.sr)
            dur = row.get("duration")
            s1 = s0 + int(float(dur) * audio.sr) if dur is not None and not np.isnan(dur) else None
            audio.samples = audio.samples[s0:s1]
        pred = self.net.predict([audio], granularity="frame")[0]
        self.audio.children = [player(audio.samples, audio.sr)]
        plt = _plt()
        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(12, 2.6), gridspec_kw={"width_ratios": [2, 2, 1.3]})
        a1.plot(np.arange(len(audio.samples)) / audio.sr, audio.samples, lw=0.5)
        a1.set_title("waveform (intake)", fontsize=9)
        if pred.frame_scores is not None and len(pred.frame_scores):
            a2.imshow(pred.frame_scores.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
                      extent=(0, pred.n_frames / 50, -0.5, len(LABEL_KEYS) - 0.5), interpolation="nearest")
            a2.set_yticks(range(len(LABEL_KEYS)), LABEL_KEYS, fontsize=7)
        a2.set_title("frame-level scores (50 /s)", fontsize=9)
        scores = [float(row[f"score_{k}"]) for k in LABEL_KEYS]
        a3.barh(range(len(LABEL_KEYS)), scores, color=["#c00" if k == row["emotion"] else "#4477aa" for k in LABEL_KEYS])
        a3.set_yticks(range(len(LABEL_KEYS)), LABEL_KEYS, fontsize=7)
        a3.set_title("scores (red: true label)", fontsize=9)
        fig.tight_layout()
        self.figure.children = [png_widget(fig)]
        findings = json.loads(row["findings"]) if row.get("findings") else []
        nn = self.neighbours(item_id, variant)
        nn_html = "".join(f"<li>{_esc(r.id)}: cos {r.cosine:.3f}, true {_esc(getattr(r, 'emotion', '') or '—')}, pred {_esc(r.pred)}</li>" for r in nn.itertuples())
        self.detail.value = (
            f"<h4>{_esc(item_id)} [{_esc(variant)}]</h4>true <b>{_esc(row['emotion'] or '—')}</b>, predicted <b>{_esc(row['pred'])}</b> "
            f"({row['confidence']:.3f}, margin {row['margin']:.3f}); speaker {_esc(row.get('speaker') or '—')}<br>"
            f"<b>findings</b>{_findings_html(findings)}<b>nearest neighbours</b><ul>{nn_html}</ul>")


# ---------------------------------------------------------------------------
class ConfusionExplorer(_View):
    """The confusion matrix as buttons; a click lists the cell's items; 'open' shows one in the browser."""

    def __init__(self, run_dir: str | Path, variant: str | None = None, browser: LowConfidenceBrowser | None = None, model: Any = None):
        import pandas as pd

        W = _w()
        self.run_dir = Path(run_dir)
        res = pd.read_parquet(self.run_dir / "results.parquet")
        variant = variant or res["variant"].iloc[0]
        ok = res[(res["status"] == "ok") & (res["variant"] == variant) & (res["emotion"].fillna("").astype(str) != "")]
        self.rows_df = ok
        self.variant = variant
        self.classes = [c for c in LABEL_KEYS if c in set(ok["emotion"])]
        self.cols = self.classes + [c for c in LABEL_KEYS if c not in self.classes and c in set(ok["pred"])]
        self.browser = browser
        self._model = model
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
        self.items = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.caption = W.HTML()
        self.open_button = W.Button(description="open in browser")
        self.open_button.on_click(lambda _: self.open_item())
        self.browser_box = W.Box()
        self.widget = W.VBox([W.HTML(f"<h4>confusion ({_esc(variant)}): click a cell</h4>"), *grid, self.caption, self.items, self.open_button, self.browser_box])

    def open_cell(self, true: str, pred: str):
        df = self.rows_df[(self.rows_df["emotion"] == true) & (self.rows_df["pred"] == pred)].sort_values("confidence")
        self.caption.value = f"<b>{len(df)}</b> items with true <b>{_esc(true)}</b> predicted <b>{_esc(pred)}</b>"
        self.items.options = [(f"{r.id}  conf={r.confidence:.3f}  {r.finding_codes or ''}", r.id) for r in df.itertuples()]
        if len(df):
            self.items.value = df["id"].iloc[0]

    def open_item(self):
        if not self.items.value:
            return
        if self.browser is None:
            self.browser = LowConfidenceBrowser(self.run_dir, model=self._model)
            self.browser_box.children = [self.browser.widget]
        self.browser.select(self.items.value, self.variant)


# ---------------------------------------------------------------------------
class VariantDiff(_View):
    """Items whose prediction changed between two variants, both versions playable."""

    def __init__(self, run_dir: str | Path, a: str | None = None, b: str | None = None):
        import pandas as pd

        W = _w()
        self.run_dir = Path(run_dir)
        self.results = pd.read_parquet(self.run_dir / "results.parquet")
        variants = list(dict.fromkeys(self.results["variant"]))
        self.a = W.Dropdown(options=variants, value=a or variants[0], description="baseline")
        self.b = W.Dropdown(options=variants, value=b or variants[-1], description="variant")
        self.summary = W.HTML()
        self.flips = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.detail = W.HTML()
        self.players = W.HBox()
        for c in (self.a, self.b):
            c.observe(lambda _: self.refresh(), names="value")
        self.flips.observe(lambda ch: self.show(ch["new"]), names="value")
        self.widget = W.VBox([W.HBox([self.a, self.b]), self.summary, self.flips, self.detail, self.players])
        self.refresh()

    def refresh(self):
        from .compare import compare_results

        self.flips.value = None
        if self.a.value == self.b.value:
            self.table = None
            self.flips.options = []
            self.summary.value = "pick two different variants"
            return
        sub = self.results[self.results["variant"].isin([self.a.value, self.b.value])]
        _, (c,), flips = compare_results(sub, baseline=self.a.value, n_boot=200)
        self.comparison, self.table = c, flips
        self.summary.value = _esc(c.render())
        self.flips.options = [(f"{r.id}: {r.pred_baseline} ({r.confidence_baseline:.3f}) → {r.pred_variant} ({r.confidence_variant:.3f})"
                               f"  true={r.emotion or '—'}", r.id) for r in flips.itertuples()]

    def show(self, item_id):
        if not item_id:
            return
        from .audio import AudioConfig, decode, to_mono
        from .runs import Variant, load_variants, prepare_variant

        W = _w()
        r = self.table[self.table["id"] == item_id].iloc[0]
        self.detail.value = (f"<b>{_esc(item_id)}</b> true {_esc(r['emotion'] or '—')}<br>{_esc(self.a.value)}: <b>{_esc(r['pred_baseline'])}</b> "
                             f"{r['confidence_baseline']:.3f} [{_esc(r['findings_baseline'])}]<br>{_esc(self.b.value)}: <b>{_esc(r['pred_variant'])}</b> "
                             f"{r['confidence_variant']:.3f} [{_esc(r['findings_variant'])}]")
        cfg_path = self.run_dir / "config.yaml"
        chains = {}
        if cfg_path.is_file():
            import yaml

            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
            for v in cfg.get("variants", []):
                chains[v["name"]] = Variant(v["name"], tuple(v.get("steps", [])))
        from .runs import item_path

        decoded = to_mono(decode(item_path(self.run_dir, r["path"])))
        out = []
        for name in (self.a.value, self.b.value):
            audio = prepare_variant(decoded, chains.get(name, Variant(name)), AudioConfig())
            out.append(W.VBox([W.Label(name), player(audio.samples, audio.sr)]))
        self.players.children = out


# ---------------------------------------------------------------------------
class LongAudioTimeline(_View):
    """A segmented long file (``workbench segment`` folder): heatmap, timeline, playable spans."""

    def __init__(self, segment_dir: str | Path):
        import pandas as pd

        W = _w()
        self.dir = Path(segment_dir)
        self.summary_data = json.loads((self.dir / "summary.json").read_text(encoding="utf-8"))
        self.timeline = pd.read_csv(self.dir / "timeline.csv")
        self.segments = pd.read_csv(self.dir / "segments.csv")
        self.source = Path(self.summary_data["source"]["path"])
        heat = np.load(self.dir / "heatmap.npz")
        self.heatmap = heat["scores"]
        s = self.summary_data
        head = (_banner(bool(s.get("random_weights"))) +
                f"<h4>{_esc(self.source.name)}</h4>{s['duration_s']:.1f} s, {s['n_segments']} segments, dominant <b>{_esc(s['dominant_emotion'] or '—')}</b>")
        self.figure = W.Box()
        self.spans = W.Select(options=[(f"{r.start:8.2f}–{r.end:8.2f} s  {r.label:<9} conf {r.confidence:.3f} ({r.n_segments} seg)", i)
                                       for i, r in enumerate(self.timeline.itertuples())], rows=10, layout=W.Layout(width="100%"))
        self.play_button = W.Button(description="play span")
        self.play_button.on_click(lambda _: self.play(self.spans.value))
        self.player = W.Box()
        self.now = W.HTML()
        self.widget = W.VBox([W.HTML(head), self.figure, self.spans, self.play_button, self.now, self.player])
        fig_path = self.dir / "heatmap.png"
        if fig_path.is_file():
            self.figure.children = [W.Image(value=fig_path.read_bytes(), format="png")]

    def span_audio(self, i: int) -> tuple[np.ndarray, int]:
        import soundfile as sf

        r = self.timeline.iloc[int(i)]
        try:
            with sf.SoundFile(str(self.source)) as f:
                f.seek(int(r["start"] * f.samplerate))
                y = f.read(int((r["end"] - r["start"]) * f.samplerate), dtype="float32", always_2d=True).mean(axis=1)
                return y, f.samplerate
        except Exception:  # formats libsndfile cannot seek: decode the whole file (short files only)
            from .audio import AudioConfig, load

            a = load(self.source, config=AudioConfig(max_duration_s=24 * 3600))
            return a.samples[int(r["start"] * a.sr): int(r["end"] * a.sr)], a.sr

    def play(self, i):
        if i is None:
            return
        y, sr = self.span_audio(i)
        r = self.timeline.iloc[int(i)]
        self.now.value = f"span {int(i)}: {r['start']:.2f}–{r['end']:.2f} s, <b>{_esc(r['label'])}</b>"
        self.player.children = [player(y, sr)]
        self.current = (y, sr)
