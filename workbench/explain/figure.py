"""The explain figure: one shared time axis for the audio, the voice, the model's frames and the evidence.

Rows, top to bottom: waveform (top-evidence span shaded); spectrogram with the
time–frequency saliency overlaid; F0 and intensity (Praat, through
:mod:`workbench.explain.voice`); the frame-score heatmap (nine classes, 50
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
from workbench.explain.explanation import Explanation
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


def plot_explanation(expl: Explanation, y: np.ndarray, *, pitch: dict | None = None, words: Sequence[Any] | None = None,
                     sr: int = SAMPLE_RATE):
    """Draw the explain figure for ``expl`` of the clip ``y`` (n,); returns the matplotlib figure.

    ``pitch``: dict with ``times`` (s), ``f0_hz`` (NaN unvoiced) and ``intensity_db``;
    ``words``: objects with ``.start``, ``.end`` (s) and ``.label``.
    """
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    methods = list(expl.attributions)
    heights = [1.0, 1.6, 1.0, 1.4] + [0.55] * len(methods) + ([0.5] if words else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 1.25 * sum(heights) + 1.4), sharex=True,
                             gridspec_kw={"height_ratios": heights, "hspace": 0.7})
    dur = len(y) / sr
    t = np.arange(len(y)) / sr
    ax = axes[0]
    ax.plot(t, y, lw=0.4, color="0.25")
    ax.set_ylabel("wave", fontsize=8)
    if expl.top_span is not None:
        s0, s1 = expl.top_span
        ax.axvspan(s0, s1, color="tab:orange", alpha=0.3, lw=0)
        ax.set_title(plain(f"waveform · top evidence {s0:.2f}–{s1:.2f} s (from {expl.top_span_method}, playable as top_evidence.wav)"),
                     fontsize=8, loc="left")
    else:  # no method passed its checks with evidence for the class: no span is shaded, and the title says why
        ax.set_title(plain(f"waveform · ⚠ {expl.top_span_note}"), fontsize=8, loc="left", color="crimson")

    ax = axes[1]
    nfft, hop = 512, 160
    from scipy.signal import stft

    f, tt, Z = stft(y, fs=sr, nperseg=nfft, noverlap=nfft - hop)
    db = 20 * np.log10(np.abs(Z) + 1e-6)
    ax.pcolormesh(tt, f, db, shading="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max())
    tf = expl.attributions.get("tf-occlusion")
    if tf is not None and tf.tf_map is not None:
        edges = np.asarray(tf.tf_band_edges_hz)
        wt = np.append(tf.tf_window_times, dur)
        m = tf.tf_map
        lim = float(np.max(np.abs(m))) or 1.0
        # positive evidence only, cells above a tenth of the strongest, so small noise does not veil the picture
        ax.pcolormesh(wt, edges, np.ma.masked_less_equal(m, 0.1 * lim), cmap="Blues", vmin=0, vmax=lim, alpha=0.6, shading="flat")
        ttl = plain("spectrogram · overlay (blue): time–frequency occlusion, band × 200 ms cells") + "\n" + plain(_faith_text(expl, "tf-occlusion"))
    else:
        ttl = plain("spectrogram (no time–frequency saliency: method tf-occlusion not run)")
    ax.set_title(ttl, fontsize=8, loc="left")  # each line escaped on its own: plain() would show the break as a literal \n
    ax.set_ylabel("Hz", fontsize=8)

    ax = axes[2]
    pitch = pitch if pitch is not None else pitch_track(y, sr)
    if "unavailable" not in pitch:
        ax.plot(pitch["times"], pitch["f0_hz"], ".", ms=2, color="tab:blue")
        ax.set_ylabel("F0 Hz", fontsize=8, color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(pitch["times"], pitch["intensity_db"], lw=0.8, color="tab:red")
        ax2.set_ylabel("dB", fontsize=8, color="tab:red")
        for a in (ax, ax2):  # plain Hz and dB: an offset axis ("+1.2e2") turns a steady tone's jitter into a zigzag
            a.ticklabel_format(axis="y", useOffset=False, style="plain")
        f0 = np.asarray(pitch["f0_hz"], dtype=float)
        f0 = f0[np.isfinite(f0)]
        if f0.size and f0.max() - f0.min() < 10:  # at least 10 Hz of range, so tiny jitter looks tiny
            mid = float(np.median(f0))
            ax.set_ylim(mid - 5, mid + 5)
        level = np.asarray(pitch["intensity_db"], dtype=float)
        level = level[np.isfinite(level)]
        if level.size and level.max() - level.min() < 6:  # and at least 6 dB, so a steady level looks steady
            mid = float(np.median(level))
            ax2.set_ylim(mid - 3, mid + 3)
        ax.set_title(plain(_voice_title(pitch)), fontsize=8, loc="left")
    else:
        ax.text(0.5, 0.5, plain(f"F0 / intensity unavailable: {pitch['unavailable']}"),
                ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_yticks([])

    ax = axes[3]
    fl = expl.frame_logits
    z = fl - fl.max(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    ax.imshow(probs.T, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
              extent=(0, len(fl) / FRAME_RATE, -0.5, len(expl.labels) - 0.5), interpolation="nearest")
    ax.set_yticks(range(len(expl.labels)), [plain(k) for k in expl.labels], fontsize=6)
    ax.set_title("frame scores (head applied to each 20 ms frame, softmax)", fontsize=8, loc="left")

    for i, m in enumerate(methods):
        ax = axes[4 + i]
        a = expl.attributions[m]
        rel = a.frame_relevance
        lim = float(np.max(np.abs(rel))) or 1.0
        ax.imshow(rel[None, :], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                  extent=(0, len(rel) * 0.02, 0, 1), interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(plain(m), fontsize=7, rotation=0, ha="right", va="center")
        problems = expl.problems(m)
        title = plain(f"{m} for '{expl.target}' (red = for, blue = against) · {_faith_text(expl, m)}")
        if problems:  # a map that failed a check says so on its own strip, on a line of its own (escaped apart:
            title += "\n" + plain("⚠ " + "; ".join(problems))  # plain() would print the break as a literal \n)
        ax.set_title(title, fontsize=7, loc="left", color="crimson" if problems else "black")

    if words:
        ax = axes[-1]
        for w in words:
            ax.axvspan(float(w.start), float(w.end), color="0.9", ec="0.5", lw=0.5)
            ax.text((float(w.start) + float(w.end)) / 2, 0.5, plain(w.label), ha="center", va="center", fontsize=7, clip_on=True)
        ax.set_yticks([])
        ax.set_title("words", fontsize=8, loc="left")
    axes[-1].set_xlim(0, dur)
    axes[-1].set_xlabel("time (s)")
    head = f"{expl.id} · predicted {expl.predicted} ({expl.scores[expl.predicted]:.2f}) · explaining '{expl.target}' · model {display_name(expl.model.get('id'))}"
    fig.suptitle(plain(head), fontsize=10, x=0.01, ha="left", y=0.995)
    if expl.banner:
        fig.text(0.01, 0.972, plain("⚠ " + expl.banner), color="crimson", fontsize=8, ha="left", va="top")
    fig.subplots_adjust(left=0.08, right=0.94, top=0.93, bottom=0.05)
    return fig


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
    text = (f"deletion AUC {f.method.deletion_auc:.2f} vs random {dl:.2f}–{dh:.2f} ({f.deletion_verdict}), "
            f"insertion AUC {f.method.insertion_auc:.2f} vs random {il:.2f}–{ih:.2f} ({f.insertion_verdict})")
    c = expl.attributions[method].checks.get("completeness")
    if c is not None:
        text += f", completeness error {c['relative_error']:.0%}"
    st = expl.attributions[method].checks.get("stability")
    if st is not None and st.get("pairs"):
        text += f", seed rank corr ≥ {st['min_spearman']:.2f}"
    r = expl.randomisation.get(method)
    if r is not None and r.spearman:
        text += f", randomised-model rank corr {r.spearman[-1]:.2f}"
    return text
