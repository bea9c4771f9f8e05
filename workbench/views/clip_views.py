"""Views of one clip: what intake and a preprocessing chain removed, and what a source rate does to the scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.intake import Audio, AudioConfig, decode_mono, load, resample
from workbench.audio.measures import noise_floor_db, onset_level_db
from workbench.audio.steps import apply_chain
from workbench.audio.variants import Variant, scored_audio
from workbench.engine.findings import audio_facts, findings_from
from workbench.model.ref import ModelRef
from workbench.schema import SAMPLE_RATE
from workbench.serialize import figure_text
from workbench.views.viewbase import _View, _banner, _esc, _findings_html, _plt, _repredict, _w, player, png_widget

# ---------------------------------------------------------------------------
class TrimmingInspector(_View):
    """Compare a clip's intake with a preprocessing chain: what was removed, and where.

    The findings are those of the processed audio (the one shown beside the intake).
    Its onset is judged against the recording's noise floor: a trim removes the quiet
    frames that floor is measured on, so the lower of the intake's and the processed
    audio's floor estimates is used.

    Parameters
    ----------
    path : str or Path
        The audio file (any format the intake reads).
    chains : dict of str to list of dict, optional
        Named preprocessing chains to choose from (steps as in a variant); default
        :attr:`DEFAULT_CHAINS` (intake only, two trims, denoise + trim, telephone).

    Examples
    --------
    >>> view = wb.TrimmingInspector(wb.DEMO_DATA / "happy_zh_onset0.wav")
    >>> view.chain.value                  # the chain shown first; set .value to pick another
    'trim top_db=30'
    >>> view.cut["start_samples"], view.cut["end_samples"] > 0   # speech starts at sample 0: nothing cut there
    (0, True)
    >>> [f["code"] for f in view.found]   # findings of the processed audio
    ['speech_at_sample_0']
    >>> view.chain.value = "intake only"
    >>> view.cut["end_s"]
    0.0
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
        facts["first_45ms_db_above_floor"] = onset_level_db(processed.samples, processed.sr) - floor
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
    """What a lower source rate, another resampler or a telephone channel does to the scores.

    Parameters
    ----------
    path : str or Path
        The audio file.
    model : ModelRef, str or None
        The checkpoint that scores both versions (a hub id, a folder, ``"tiny"``; default
        as :func:`wb.load_model` chooses).

    Examples
    --------
    >>> view = wb.SampleRateExplorer(wb.DEMO_DATA / "happy_en_44k.wav", model="tiny")
    >>> view.rate.value, len(view.predictions)     # the original and the 8 kHz version, both scored
    (8000, 2)
    >>> view.telephone.value = True
    >>> view.run_button.click()                    # as a user clicks "compare"
    >>> view.label_changed in (True, False), "top label" in view.result.value
    (True, True)
    """

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
        # the variant named alike in the line and over its spectrogram ("44100 Hz → 16 kHz" hid the telephone channel);
        # a head's labels come from its tokens.txt: escaped
        variant = f"{self.rate.value} Hz / {self.resampler.value}{' / telephone' if self.telephone.value else ''}"
        self.result.value = (f"original ({self.decoded.sr} Hz): <b>{_esc(pa.label)}</b> {pa.confidence:.3f} &nbsp; → &nbsp; "
                             f"{_esc(variant)}: <b>{_esc(pb.label)}</b> {pb.confidence:.3f} — {change}")
        plt = _plt()
        fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), gridspec_kw={"width_ratios": [2, 2, 1.6]})
        for ax, a, title in ((axes[0], ref, "original → 16 kHz"), (axes[1], var, f"{variant} → 16 kHz")):
            ax.specgram(a.samples + 1e-9, NFFT=512, Fs=a.sr, noverlap=384, cmap="magma", vmin=-140)
            ax.set_title(title, fontsize=9)
            ax.set_ylabel("Hz")
            ax.set_xlabel("time (s)")
        x = np.arange(len(pa.labels))
        # the bars named as the spectrograms are ("variant" said not which), their axis said, and the legend over
        # the panel, where the others have their titles: in its corner it covered the top classes' bars
        axes[2].barh(x - 0.2, pa.scores, height=0.4, label="original")
        axes[2].barh(x + 0.2, pb.scores, height=0.4, label=figure_text(variant))
        axes[2].set_yticks(x, [figure_text(k) for k in pa.labels], fontsize=8)
        axes[2].set_xlabel("score")
        axes[2].legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, borderaxespad=0.2)
        fig.tight_layout()
        self.figure.children = [png_widget(fig)]
        self.players.children = [player(ref.samples, ref.sr), player(var.samples, var.sr)]
