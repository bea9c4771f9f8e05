"""The explain figure: one shared time axis for the audio, the voice, the model's frames and the evidence.

Rows, top to bottom: waveform (top-evidence span shaded); spectrogram with the
time–frequency saliency overlaid; F0 and intensity (Praat, through
:mod:`workbench.explain.voice`); the frame-score heatmap (the model's classes, 50
frames/s); one attribution strip per method, each titled with its method and
its faithfulness figures; the words (when an alignment is given).  The model's
banner (random weights, synthetic cues) heads the figure.  Every string that
comes from data is plain text (``$`` escaped: no mathtext).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.model.checkpoints import display_name
from workbench.model.network import FRAME_RATE
from workbench.serialize import figure_text
from workbench.explain.attribution import SAMPLE_RATE
from workbench.explain.explanation import Explanation, run_row_gap
from workbench.explain.faithfulness import auc_digits
from workbench.explain.voice import pitch_intensity
from workbench.errors import AudioError


def plain(text: Any) -> str:
    """Data as plain matplotlib text (:func:`workbench.serialize.figure_text`: ``$`` escaped, control characters shown)."""
    return figure_text(text)


def pitch_track(y: np.ndarray, sr: int = SAMPLE_RATE) -> dict:
    """F0 and intensity of the clip (:func:`workbench.explain.voice.pitch_intensity`, Praat through parselmouth).

    A clip Praat cannot measure (shorter than three periods of the pitch floor) gives
    ``{"unavailable": reason}``: the figure says so in the voice row instead of failing.
    """
    try:
        return pitch_intensity(y, sr)
    except AudioError as exc:
        return {"unavailable": exc.message}


#: a title wrapped past this many lines is cut with "…" (the full text is in :func:`figure_titles`, which the JSON carries)
MAX_TITLE_LINES = 4
#: the figure's width in inches; titles are wrapped to the axes' width at their font size
FIGURE_WIDTH_IN = 12.0


def figure_titles(expl: Explanation, pitch: dict | None = None) -> dict[str, str]:
    """The full text of every title of the explain figure (plain text, not yet escaped or wrapped).

    Keys: ``heading``, ``banner`` (when the model has one), ``waveform``, ``spectrogram``,
    ``voice`` (with ``pitch``), ``frame_scores`` and ``method:<name>`` per method (its
    flags on the lines after the first).  The figure wraps these to its width and cuts
    one longer than :data:`MAX_TITLE_LINES` lines; ``explanation.json`` keeps them whole.
    """
    out = {"heading": f"{expl.id} · predicted {expl.predicted} ({expl.scores[expl.predicted]:.2f}) · explaining '{expl.target}' · "
                      f"model {display_name(expl.model.get('id'))}"}
    if expl.banner:
        out["banner"] = "⚠ " + expl.banner
    gap = run_row_gap(expl.model.get("run_row"))
    if gap:  # the screen's warning, under the heading
        out["banner"] = "\n".join([*([out["banner"]] if "banner" in out else []), "⚠ " + gap])
    if expl.top_span is not None:
        s0, s1 = expl.top_span
        out["waveform"] = f"waveform · top evidence {s0:.2f}–{s1:.2f} s (from {expl.top_span_method}, playable as top_evidence.wav)"
    else:  # no method passed its checks with evidence for the class: no span is shaded, and the title says why
        out["waveform"] = f"waveform · ⚠ {expl.top_span_note}"
    tf = expl.attributions.get("tf-occlusion")
    out["spectrogram"] = ("\n".join(["spectrogram · overlay (blue): time–frequency occlusion, band × 200 ms cells · "
                                      + _faith_text(expl, "tf-occlusion"), *(f"⚠ {p}" for p in expl.problems("tf-occlusion"))])
                          if tf is not None and tf.tf_map is not None else
                          "spectrogram (no time–frequency saliency: method tf-occlusion not run)")
    if pitch is not None:
        out["voice"] = (_voice_title(pitch) if "unavailable" not in pitch else f"F0 / intensity unavailable: {pitch['unavailable']}")
    tail_ms = 1000 * (expl.duration - len(expl.frame_logits) / FRAME_RATE)  # audio after the last frame (hatched)
    out["frame_scores"] = "frame scores (head applied to each 20 ms frame, softmax)" + (
        f" · hatched: the last {tail_ms:.0f} ms, which no frame covers" if tail_ms >= 0.5 else "")
    for m in expl.attributions:
        problems = expl.problems(m)  # a map that failed a check says so on its own strip, on lines of their own
        out[f"method:{m}"] = "\n".join([f"{m} for '{expl.target}' (red = for, blue = against) · {_faith_text(expl, m)}",
                                        *(f"⚠ {p}" for p in problems)])
    return out


def fit_title(text: str, *, fontsize: float, width_in: float, max_lines: int = MAX_TITLE_LINES) -> str:
    """``text`` wrapped to ``width_in`` inches at ``fontsize`` points, each line escaped (:func:`plain`), at most ``max_lines``.

    A character is taken as 0.62 em wide (DejaVu Sans averages less), so a line never runs past the
    right edge; a text longer than ``max_lines`` lines ends in "…".  Breaks in ``text`` are kept.
    """
    import textwrap

    chars = max(20, int(width_in * 72 / (0.62 * fontsize)))
    lines = [w for part in str(text).split("\n") for w in (textwrap.wrap(part, chars, break_on_hyphens=False) or [""])]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars - 1] + "…"
    return "\n".join(plain(line) for line in lines)  # each line escaped on its own: plain() would show a break as a literal \n


def plot_explanation(expl: Explanation, y: np.ndarray, *, pitch: dict | None = None, words: Sequence[Any] | None = None,
                     sr: int = SAMPLE_RATE):
    """Draw the explain figure for ``expl`` of the clip ``y`` (n,); returns the matplotlib figure.

    ``pitch``: dict with ``times`` (s), ``f0_hz`` (NaN unvoiced) and ``intensity_db`` (default: measured
    here); ``words``: objects with ``.start``, ``.end`` (s) and ``.label``.  Titles are wrapped to the
    figure's width (:func:`fit_title`; full texts from :func:`figure_titles`).
    """
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pitch = pitch if pitch is not None else pitch_track(y, sr)
    titles = figure_titles(expl, pitch)
    methods = list(expl.attributions)
    heights = [1.0, 1.6, 1.0, 1.4] + [0.55] * len(methods) + ([0.5] if words else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(FIGURE_WIDTH_IN, 1.25 * sum(heights) + 1.4), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": heights})
    width = FIGURE_WIDTH_IN * 0.86  # the axes' width: the figure less the labels on both sides

    def title(ax, key, fontsize, **kw):
        ax.set_title(fit_title(titles[key], fontsize=fontsize, width_in=width), fontsize=fontsize, loc="left", **kw)

    dur = len(y) / sr
    _draw_wave(axes[0], y, sr, expl)
    title(axes[0], "waveform", 8, **({} if expl.top_span is not None else {"color": "crimson"}))
    _draw_spectrogram(axes[1], y, sr, expl, dur)
    title(axes[1], "spectrogram", 8, color="crimson" if "tf-occlusion" in expl.attributions and expl.problems("tf-occlusion") else "black")
    _draw_voice(axes[2], pitch)
    if "unavailable" not in pitch:
        title(axes[2], "voice", 8)
    _draw_frame_scores(axes[3], expl, dur)
    title(axes[3], "frame_scores", 8)
    for i, m in enumerate(methods):
        _draw_method(axes[4 + i], expl, m)
        title(axes[4 + i], f"method:{m}", 7, color="crimson" if expl.problems(m) else "black")
    if words:
        _draw_words(axes[-1], words)
    axes[-1].set_xlim(0, dur)
    axes[-1].set_xlabel("time (s)")
    head = fit_title(titles["heading"], fontsize=10, width_in=FIGURE_WIDTH_IN * 0.95)
    if "banner" in titles:  # the model's warning (and a gap to the run's row) under the heading, in its colour
        head += "\n" + fit_title(titles["banner"], fontsize=10, width_in=FIGURE_WIDTH_IN * 0.95)
    fig.suptitle(head, fontsize=10, x=0.01, ha="left", color="crimson" if "banner" in titles else "black")
    return fig


def _draw_wave(ax: Any, y: np.ndarray, sr: int, expl: Explanation) -> None:
    """The waveform, the top-evidence span shaded."""
    ax.plot(np.arange(len(y)) / sr, y, lw=0.4, color="0.25")
    ax.set_ylabel("wave", fontsize=8)
    if expl.top_span is not None:
        ax.axvspan(*expl.top_span, color="tab:orange", alpha=0.3, lw=0)


def _draw_spectrogram(ax: Any, y: np.ndarray, sr: int, expl: Explanation, dur: float) -> None:
    """The spectrogram (512-point STFT, 10 ms hop), the positive time–frequency saliency overlaid in blue."""
    from scipy.signal import stft

    nfft, hop = 512, 160
    f, tt, Z = stft(y, fs=sr, nperseg=nfft, noverlap=nfft - hop)
    db = 20 * np.log10(np.abs(Z) + 1e-6)
    ax.pcolormesh(tt, f, db, shading="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max())
    tf = expl.attributions.get("tf-occlusion")
    if tf is not None and tf.tf_map is not None:
        m = tf.tf_map
        lim = float(np.max(np.abs(m))) or 1.0
        # positive evidence only, cells above a tenth of the strongest, so small noise does not veil the picture
        ax.pcolormesh(np.append(tf.tf_window_times, dur), np.asarray(tf.tf_band_edges_hz), np.ma.masked_less_equal(m, 0.1 * lim),
                      cmap="Blues", vmin=0, vmax=lim, alpha=0.6, shading="flat")
    ax.set_ylabel("Hz", fontsize=8)


def _draw_voice(ax: Any, pitch: dict) -> None:
    """F0 (dots) and intensity (line) on two axes, with ranges that keep small wobbles small; or why they are missing."""
    if "unavailable" in pitch:
        ax.text(0.5, 0.5, fit_title(f"F0 / intensity unavailable: {pitch['unavailable']}", fontsize=8, width_in=FIGURE_WIDTH_IN * 0.8),
                ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_yticks([])
        return
    ax.plot(pitch["times"], pitch["f0_hz"], ".", ms=2, color="tab:blue")
    ax.set_ylabel("F0 Hz", fontsize=8, color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(pitch["times"], pitch["intensity_db"], lw=0.8, color="tab:red")
    ax2.set_ylabel("dB", fontsize=8, color="tab:red")
    for a in (ax, ax2):  # plain Hz and dB: an offset axis ("+1.2e2") turns a steady tone's jitter into a zigzag
        a.ticklabel_format(axis="y", useOffset=False, style="plain")
    for a, values, least in ((ax, pitch["f0_hz"], 10.0), (ax2, pitch["intensity_db"], 6.0)):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size and v.max() - v.min() < least:  # at least 10 Hz and 6 dB of range, so tiny jitter looks tiny
            # centred between the extremes, with matplotlib's 5 % margin: centred on the median, a 100 Hz tone with a
            # few frames at 109 Hz drew them off the 95–105 Hz axis (and 55 dB under a 60 dB level off 57–63 dB)
            mid, half = (float(v.max()) + float(v.min())) / 2, max(least, 1.1 * float(v.max() - v.min())) / 2
            a.set_ylim(mid - half, mid + half)


def _draw_frame_scores(ax: Any, expl: Explanation, dur: float) -> None:
    """The head's softmax on every 20 ms frame, one row per class of the model; frame i drawn over [i/50, (i+1)/50).

    The encoder's 25 ms window at a 20 ms hop leaves the last few ms of the audio (up to 25) without a frame of their
    own: that tail is hatched (and said in the title), so the empty strip before the axis's end is not read as a
    drawing error, and the heatmap is not stretched over time no frame covers."""
    fl = expl.frame_logits
    z = fl - fl.max(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    end = len(fl) / FRAME_RATE
    image = ax.imshow(probs.T, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                      extent=(0, end, -0.5, len(expl.labels) - 0.5), interpolation="nearest")
    if dur > end:
        ax.axvspan(end, dur, facecolor="0.85", edgecolor="0.5", hatch="////", lw=0, gid="no frame")
    ax.set_yticks(range(len(expl.labels)), [plain(k) for k in expl.labels], fontsize=6)
    # the colour scale, outside the axes so the time axis stays aligned with the strips above and below
    bar = ax.figure.colorbar(image, cax=ax.inset_axes([1.005, 0.0, 0.012, 1.0]))
    bar.set_label("p", fontsize=6, rotation=0)
    bar.ax.tick_params(labelsize=5)


def _draw_method(ax: Any, expl: Explanation, method: str) -> None:
    """One method's frame relevance as a strip (red for the class, blue against it)."""
    rel = expl.attributions[method].frame_relevance
    lim = float(np.max(np.abs(rel))) or 1.0
    ax.imshow(rel[None, :], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, extent=(0, len(rel) * 0.02, 0, 1), interpolation="nearest")
    ax.set_yticks([])
    ax.set_ylabel(plain(method), fontsize=7, rotation=0, ha="right", va="center")


def _draw_words(ax: Any, words: Sequence[Any]) -> None:
    """The aligned words as labelled spans."""
    for w in words:
        ax.axvspan(float(w.start), float(w.end), color="0.9", ec="0.5", lw=0.5)
        ax.text((float(w.start) + float(w.end)) / 2, 0.5, plain(w.label), ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_yticks([])
    ax.set_title("words", fontsize=8, loc="left")


def _voice_title(pitch: dict) -> str:
    """The voice row's title: what was measured, at which rate, and what was left out."""
    text = "F0 and intensity (Praat via parselmouth"
    if pitch.get("sample_rate_hz"):
        text += f", measured at {int(pitch['sample_rate_hz'])} Hz"
    text += ")"
    ex = pitch.get("excluded") or {}
    if ex.get("silence_frames"):
        text += f" · digital silence left out: {ex['silence_s']:.2f} s, {ex['silence_frames']} of {ex['frames']} frames"
    return text


def _faith_text(expl: Explanation, method: str) -> str:
    f = expl.faithfulness.get(method)
    if f is None:
        return "faithfulness not measured"
    dl, dh = f.random.interval("deletion")
    il, ih = f.random.interval("insertion")
    # the screen's digits: at 2 decimals "0.20 vs random 0.20–0.22 (better than random)" contradicted itself
    d, i = auc_digits(f.method.deletion_auc, (dl, dh)), auc_digits(f.method.insertion_auc, (il, ih))  # and at 3, when they tie
    text = (f"deletion AUC {f.method.deletion_auc:.{d}f} vs random {dl:.{d}f}–{dh:.{d}f} ({f.deletion_verdict}), "
            f"insertion AUC {f.method.insertion_auc:.{i}f} vs random {il:.{i}f}–{ih:.{i}f} ({f.insertion_verdict})")
    return ", ".join([text, *expl.check_phrases(method)])
