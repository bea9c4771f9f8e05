"""Sweeps: the same audio through a grid of one preprocessing knob.

Each grid point is a :class:`~workbench.audio.variants.Variant`, so a sweep is a run
(cache, provenance, failed rows and all) plus curves.  Every sweep has a
*reference*: the unmodified audio, scored in the same run, against which "same
label as the reference" is measured:

* ``sample-rate``: the source resampled to 8 / 11.025 / 16 / 22.05 / 44.1 /
  48 kHz before the intake's conversion to 16 kHz ("does 8 kHz telephone audio
  make the model unsure?"); reference: ``raw``, the original file at its own rate;
* ``trim``: no trim (the reference), then ``top_db`` 60 … 20 ("did trimming cut
  the onset of 'tài bàng le'?");
* ``snr``: white noise at 40 … 0 dB SNR, each with and without stationary
  noise reduction; reference: ``clean``;
* ``denoise``: noise reduction strength (``prop_decrease``), stationary and not;
  reference: ``no_denoise``;
* ``pitch``: F0 shifted by −4 … +4 semitones with Praat's PSOLA (duration and formants
  kept); reference: ``no_shift``;
* ``tempo``: spoken 0.7 … 1.4 times as fast with PSOLA (pitch kept); reference: ``tempo_1``.

Besides ``sweep.csv`` and ``sweep_summary.csv``, ``sweep_flips.csv`` says per grid point and
per reference label how often the label flips and where the probability mass moves
(:func:`flip_table_from_results`, below).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.errors import AudioError, ConfigError
from workbench.data.manifest import Item, Manifest, read_manifest
from workbench.runs.driver import run
from workbench.runs.folder import RunFolder, select_rows
from workbench.schema import SAMPLE_RATE, score_column, score_columns, score_labels
from workbench.serialize import figure_text, save_figure, signed_bound
from workbench.audio.variants import RAW, Variant
from workbench.serialize import spreadsheet_safe

#: the unmodified point of each sweep: the reference every other point is compared with
REFERENCE = {"sample-rate": RAW.name, "trim": "no_trim", "snr": "clean", "denoise": "no_denoise", "pitch": "no_shift", "tempo": "tempo_1"}
SAMPLE_RATES = (8000, 11025, SAMPLE_RATE, 22050, 44100, 48000)
#: grid of the pitch sweep (semitones) and the tempo sweep (factor); beyond them PSOLA sounds processed
SEMITONES = (-4.0, -2.0, -1.0, 1.0, 2.0, 4.0)
TEMPO_FACTORS = (0.7, 0.8, 0.9, 1.1, 1.25, 1.4)


def grid(kind: str) -> list[tuple[Variant, dict]]:
    """Variants of a sweep with the grid coordinates of each."""
    if kind == "sample-rate":
        # the reference is the file as it is: its sample rate is the source's own (filled in per item by sweep())
        return [(RAW, {"sample_rate": float("nan")})] + [(Variant(f"sr_{r}", ({"name": "resample", "sr": r},)), {"sample_rate": r})
                                                          for r in SAMPLE_RATES]
    if kind == "trim":
        out = [(Variant("no_trim"), {"top_db": float("inf")})]
        return out + [(Variant(f"trim_{d}db", ({"name": "trim", "top_db": d},)), {"top_db": d}) for d in (60, 50, 40, 30, 20)]
    if kind == "snr":
        out = [(Variant("clean"), {"snr_db": float("inf"), "denoise": False})]
        for snr in (40, 30, 20, 10, 5, 0):
            noisy = {"name": "add_noise", "snr_db": snr, "seed": 0}
            out.append((Variant(f"snr_{snr}", (noisy,)), {"snr_db": snr, "denoise": False}))
            out.append((Variant(f"snr_{snr}+denoise", (noisy, {"name": "denoise", "stationary": True})), {"snr_db": snr, "denoise": True}))
        return out
    if kind == "denoise":
        out = [(Variant("no_denoise"), {"prop_decrease": 0.0, "stationary": None})]
        for stationary in (True, False):
            for p in (0.25, 0.5, 0.75, 1.0):
                out.append((Variant(f"denoise_{'st' if stationary else 'nst'}_{p}", ({"name": "denoise", "stationary": stationary, "prop_decrease": p},)),
                            {"prop_decrease": p, "stationary": stationary}))
        return out
    if kind == "pitch":
        return [(Variant("no_shift"), {"semitones": 0.0})] + [
            (Variant(f"pitch_{st:+g}st", ({"name": "pitch_shift", "semitones": st},)), {"semitones": st}) for st in SEMITONES]
    if kind == "tempo":
        return [(Variant("tempo_1"), {"tempo_factor": 1.0})] + [
            (Variant(f"tempo_{f:g}", ({"name": "tempo", "factor": f},)), {"tempo_factor": f}) for f in TEMPO_FACTORS]
    raise ConfigError(f"unknown sweep kind {kind!r}; expected {', '.join(REFERENCE)}.", fix=f"pass --kind {'|'.join(REFERENCE)}.")


def sweep(source: str | Path, *, kind: str, out_dir: str | Path, model: Any = None, figures: bool = True, **run_kwargs):
    """Run ``source`` through a grid of one preprocessing knob, the unmodified audio as the reference.

    Parameters
    ----------
    source : path
        An audio file, or a manifest (``.csv``, ``.jsonl``, ``.parquet``).
    kind : str
        The knob: ``sample-rate``, ``trim``, ``snr``, ``denoise``, ``pitch`` or ``tempo``.
    out_dir : path
        The run folder; ``sweep.csv``, ``sweep_summary.csv``, ``sweep_flips.csv`` (and ``sweep.png``) go there too.
    model : model or reference, optional
        What :func:`~workbench.runs.driver.run` accepts.
    figures : bool
        Also draw ``sweep.png``.
    **run_kwargs
        Passed to :func:`~workbench.runs.driver.run` (``use_cache``, ``workers`` …).

    Returns
    -------
    DataFrame
        One row per item × grid point, with the knob's value and ``reference``.

    Examples
    --------
    >>> wav = wb.DEMO_DATA / "happy_en_44k.wav"
    >>> df = wb.sweep(wav, kind="trim", out_dir="runs/sweep_doc", model="tiny", figures=False)
    >>> list(df["variant"])
    ['no_trim', 'trim_60db', 'trim_50db', 'trim_40db', 'trim_30db', 'trim_20db']
    >>> int(df["reference"].sum())
    1
    """
    src = Path(source)
    if src.suffix.lower() in (".csv", ".jsonl", ".parquet"):
        manifest = read_manifest(src)
    else:
        if not src.is_file():
            raise AudioError("file not found.", source=str(src), fix="check the path.")
        manifest = Manifest([Item(id=src.stem, path=str(src.resolve()))], root=src.resolve().parent, name=src.stem)
    points = grid(kind)
    result = run(manifest, out_dir=out_dir, model=model, variants=[v for v, _ in points], **run_kwargs)
    df = result.results()
    coords = {v.name: c for v, c in points}
    for key in {k for c in coords.values() for k in c}:
        df[key] = df["variant"].map(lambda name, k=key: coords[name].get(k))
    df["kind"] = kind
    df["reference"] = df["variant"] == REFERENCE[kind]
    if kind == "sample-rate":  # the original audio is at its source's rate
        ref = df["reference"]
        df.loc[ref, "sample_rate"] = df.loc[ref, "source_sample_rate"]
    rf = RunFolder(Path(out_dir))  # the sweep's tables and figure are outputs of its run folder
    keep = ["id", "variant", "reference", *sorted({k for c in coords.values() for k in c}), "status", "pred", "confidence", "margin",
            *score_columns(score_labels(df)), "finding_codes", "error"]
    for name, table in (("sweep.csv", df[keep]), ("sweep_summary.csv", summarise_sweep(df, kind)),
                        ("sweep_flips.csv", flip_table_from_results(df, reference_name(df, kind)))):
        rf.write_artifact(name, lambda f, t=table: spreadsheet_safe(t).to_csv(f, index=False), text=True)
    if figures:  # through the run folder, as its tables: atomic, recorded, and marked when the weights are random
        rf.write_figure("sweep.png", plot_sweep(df, kind))
    return df


_X_KEY = {"sample-rate": "sample_rate", "trim": "top_db", "snr": "snr_db", "denoise": "prop_decrease", "pitch": "semitones",
          "tempo": "tempo_factor"}


def reference_name(df, kind: str) -> str:
    """The variant the sweep's other points are compared with: the unmodified audio."""
    name = REFERENCE[kind]
    if name not in set(df["variant"]):
        raise ConfigError(f"the {kind} sweep has no reference variant {name!r} (the unmodified audio); it has {sorted(set(df['variant']))}.",
                          fix="run the sweep again with this version: the reference is part of its grid.")
    return name


def _same_label_counts(sub, reference) -> tuple[float, int, float, float]:
    """The share of the reference's items whose label at this point is the reference's, its denominator (the reference's
    items) and its exact (Clopper–Pearson) 95 % interval; NaN and 0 when nothing is compared.  An item that failed at
    this point counts as not the same label."""
    if not len(reference):
        return float("nan"), 0, float("nan"), float("nan")
    from scipy.stats import binomtest

    same = int((sub.set_index("id")["pred"].reindex(reference.index) == reference).sum())
    ci = binomtest(same, len(reference)).proportion_ci(confidence_level=0.95, method="exact")
    return same / len(reference), int(len(reference)), float(ci.low), float(ci.high)


def mean_interval(x) -> tuple[float, float, float, int]:
    """The mean of ``x`` (NaNs left out) with its Student-t 95 % interval over the items (scipy's ``ttest_1samp``) and
    their number; NaN bounds under 2 items; values all equal give the value itself as both bounds."""
    from scipy.stats import ttest_1samp

    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    if not len(x):
        return float("nan"), float("nan"), float("nan"), 0
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan"), 1
    if np.ptp(x) == 0:  # no spread: the t interval is 0/0, and every item moved by exactly this much
        return m, m, m, int(len(x))
    ci = ttest_1samp(x, 0.0).confidence_interval(0.95)
    return m, float(ci.low), float(ci.high), int(len(x))


def confidence_change(sub, reference_confidence) -> tuple[float, float, float, int, "bool | None"]:
    """A grid point's mean change of confidence from the reference, item by item (the items scored at both), with its
    paired Student-t 95 % interval (:func:`mean_interval` of the differences), the items paired, and whether the change
    is within that interval of no change (the interval holds 0: the point cannot be told apart from the reference);
    ``None`` for that when there is no interval (fewer than 2 items paired)."""
    here = sub.set_index("id")["confidence"].astype(float)
    both = reference_confidence.index.intersection(here.index)
    d, lo, hi, n = mean_interval(here.reindex(both).to_numpy() - reference_confidence.reindex(both).to_numpy(dtype=float))
    return d, lo, hi, n, (bool(lo <= 0.0 <= hi) if lo == lo and hi == hi else None)


def summarise_sweep(df, kind: str):
    """One row per grid point: items, failures, mean confidence with its Student-t 95 % interval over the items
    (``mean_confidence_ci_low``/``_high``) and margin, the mean change of confidence from the reference with its paired
    t interval (``confidence_change``, ``change_ci_low``/``_high``, ``change_paired``) and ``change_within_interval``
    (the interval holds 0: no change told apart from the reference's), the most frequent top label with its count (every
    tied label named: :func:`_top_label`), and the share of
    items whose label equals the reference's (the unmodified audio, see :data:`REFERENCE`) with its denominator
    (``compared``) and exact 95 % interval."""
    import pandas as pd

    ref_name = reference_name(df, kind)
    ok = select_rows(df)
    reference = ok[ok["variant"] == ref_name].set_index("id")["pred"]
    ref_conf = ok[ok["variant"] == ref_name].set_index("id")["confidence"]
    x_key = _X_KEY[kind]
    rows = []
    for name in dict.fromkeys(df["variant"]):
        sub = df[df["variant"] == name]
        good = select_rows(sub)
        xs = sub[x_key].dropna().unique()
        rows.append({
            "variant": name, "reference": name == ref_name, x_key: xs[0] if len(xs) == 1 else float("nan"),
            **({"denoise": sub["denoise"].iloc[0]} if kind == "snr" else {}),
            **({"stationary": sub["stationary"].iloc[0]} if kind == "denoise" else {}),
            "items": int(len(sub)), "failed": int(len(select_rows(sub, status="failed"))),
            **_confidence_columns(good, ref_conf, name == ref_name),
            "mean_margin": round(float(good["margin"].mean()), 4) if len(good) else float("nan"),
            **_top_label(good["pred"]),
            **dict(zip(("same_label_as_reference", "compared", "same_label_ci_low", "same_label_ci_high"),
                       (round(v, 4) if isinstance(v, float) else v for v in _same_label_counts(good, reference)))),
            **({"same_label_ci_low": float("nan"), "same_label_ci_high": float("nan")} if name == ref_name else {}),  # 1 by definition
        })
    out = pd.DataFrame(rows)
    if x_key == "sample_rate":  # a rate is a whole number of Hz: 22050, not 22050.0000
        out[x_key] = out[x_key].round().astype("Int64")
    return out


def _top_label(preds) -> dict:
    """A grid point's most frequent label with the items that have it (``top_label_items``, of the point's scored items):
    labels tied for the most are all named, ``a = b (tie)`` (the mode's first, alphabetically, was given alone)."""
    modes = sorted(str(m) for m in preds.mode())
    top = "" if not modes else modes[0] if len(modes) == 1 else " = ".join(modes) + " (tie)"
    return {"top_label": top, "top_label_items": int((preds == modes[0]).sum()) if modes else 0, "top_label_of": int(len(preds))}


def _confidence_columns(good, ref_conf, is_reference: bool) -> dict:
    """A grid point's mean confidence with its t interval, and its paired change from the reference (none for the
    reference itself), as :func:`summarise_sweep`'s columns."""
    m, lo, hi, _ = mean_interval(good["confidence"])
    d, dlo, dhi, n, within = confidence_change(good, ref_conf) if not is_reference else (*(float("nan"),) * 3, 0, None)
    return {**{k: round(v, 4) for k, v in (("mean_confidence", m), ("mean_confidence_ci_low", lo), ("mean_confidence_ci_high", hi),
                                           ("confidence_change", d), ("change_ci_low", dlo), ("change_ci_high", dhi))},
            "change_paired": n, "change_within_interval": within}


_SWEEP_SHARE = ("same_label_as_reference", "compared", "same_label_ci_low", "same_label_ci_high")
_SWEEP_CONFIDENCE = ("mean_confidence_ci_low", "mean_confidence_ci_high", "confidence_change", "change_ci_low", "change_ci_high",
                     "change_paired", "change_within_interval")
#: the screen's and the page's heads of the confidence cells
CONFIDENCE_HEAD = "mean confidence [95% t CI over items]"
CHANGE_HEAD = "Δ confidence vs reference [paired 95% t CI] n"


def _confidence_cells(r) -> tuple[str, str]:
    """A summary row's mean confidence beside its interval, and its change from the reference beside its paired
    interval, marked ``≈ reference`` when the interval holds 0 (no change told apart), in words where there is none."""
    m, lo, hi = r["mean_confidence"], r["mean_confidence_ci_low"], r["mean_confidence_ci_high"]
    mean = "—" if m != m else f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo else f"{m:.3f} (one item: no interval)"
    n = int(r["change_paired"])
    if r["reference"]:
        return mean, "— (the reference itself)"
    if not n:
        return mean, "— (no item scored at both)"
    d, dlo, dhi = r["confidence_change"], r["change_ci_low"], r["change_ci_high"]
    if dlo != dlo:
        return mean, f"{d:+.3f} (one item: no interval)"
    if dlo == dhi:  # no spread: a zero-width interval shows no uncertainty, say what it is instead
        return mean, (f"{d:+.3f} (all {n} items as at the reference)  ≈ reference" if d == 0 else
                      f"{d:+.3f} (all {n} items moved by exactly this: no spread, no interval)")
    return mean, f"{d:+.3f} [{signed_bound(dlo)}, {signed_bound(dhi)}] {n}" + ("  ≈ reference: interval holds 0" if r["change_within_interval"] else "")



def sweep_display(summ):
    """:func:`summarise_sweep`'s points as a reader sees them, on the screen and on a page alike: the share of items
    keeping the reference's label in one cell with its exact interval and count (as four raw columns they ran past the
    width, NaN on the reference's row), the mean confidence beside its t interval and its change from the reference
    beside its paired interval (``≈ reference`` where that holds 0), the reference row named in words, flags as yes/no
    (not ``True``/``False``), column names in words."""
    import pandas as pd

    keep = [c for c in summ.columns if c not in _SWEEP_SHARE + _SWEEP_CONFIDENCE + ("reference", "top_label_items", "top_label_of")]
    keep.insert(keep.index("mean_confidence") + 1, "confidence_change")  # the change beside the mean it changes
    heads = {"mean_confidence": CONFIDENCE_HEAD, "confidence_change": CHANGE_HEAD, **KNOB_HEADS}
    rows = []
    for _, r in summ.iterrows():
        confidence = dict(zip(("mean_confidence", "confidence_change"), _confidence_cells(r)))
        if r.get("top_label"):  # the label with its count: "sad 2/3 items", "angry = sad (tie) 2/4 items each"
            confidence["top_label"] = (f"{r['top_label']} {int(r['top_label_items'])}/{int(r['top_label_of'])} items"
                                       + (" each" if str(r["top_label"]).endswith("(tie)") else ""))
        cells = [f"{r['variant']} (reference)" if r["reference"] and c == "variant" else confidence[c] if c in confidence else
                 ("yes" if r[c] else "no") if type(r[c]).__name__ in ("bool", "bool_") else
                 _unbounded(c) if isinstance(r[c], float) and r[c] == float("inf") else
                 f"{r[c]:g}" if c in KNOB_HEADS and isinstance(r[c], float) and r[c] == r[c] else r[c] for c in keep]
        n = int(r["compared"])
        share = ("— (the reference itself)" if r["reference"] else "— (nothing compared)" if not n else
                 f"{r['same_label_as_reference']:.3f} [{r['same_label_ci_low']:.3f}, {r['same_label_ci_high']:.3f}] "
                 f"{round(r['same_label_as_reference'] * n)}/{n}")
        rows.append(cells + [share])
    header = [heads.get(c, c.replace("_", " ")) for c in keep] + ["same label as the reference [exact 95% CI] same/compared"]
    frame = pd.DataFrame(rows, columns=header)
    for c, kept in zip(header, keep):  # a whole-number column stays one (22050, not 22050.0)
        if kept not in heads and str(summ[kept].dtype) == "Int64":
            frame[c] = frame[c].astype("Int64")
    return frame


#: each grid's knob in words, with its unit: the tables' heads read 'snr db', 'top db' (the column names with spaces), and
#: a page printed the knob's values with four decimals (40.0000 dB); they are printed as given (40, 0.9)
KNOB_HEADS = {"sample_rate": "source rate (Hz)", "top_db": "trim top_db (dB)", "snr_db": "SNR (dB)",
              "prop_decrease": "noise reduction (prop_decrease)", "semitones": "pitch shift (semitones)", "tempo_factor": "tempo factor"}


def _unbounded(column: str) -> str:
    """An infinite knob value in words: the clean reference's SNR is no noise added (the table printed ``inf``)."""
    return "none added (clean)" if column.startswith("snr") else "∞"


#: a sweep's two groups of curves in words (the legend said "denoise=False", "stationary=True"), keyed by the flag as text
_GROUP_WORDS = {"denoise": {"False": "without noise reduction", "True": "with noise reduction"},
                "stationary": {"True": "stationary noise reduction", "False": "non-stationary noise reduction"}}


def _khz(x: float) -> str:
    return f"{x / 1000:g}"


def _label_x_axis(ax2, kind: str, ticks: list[float]) -> None:
    """The grid's axis in words: source rates in kHz on a log scale (each rate a tick), the other knobs by name."""
    from matplotlib.ticker import FixedLocator, NullLocator

    if kind == "sample-rate":
        ax2.set_xscale("log")
        ax2.xaxis.set_major_locator(FixedLocator(ticks))
        ax2.xaxis.set_minor_locator(NullLocator())
        span = np.log10(max(ticks) / min(ticks)) if len(ticks) > 1 else 1.0
        # two rates within 8 % of the axis (44.1 and 48 kHz): centred under their ticks they read as one number
        # ("44.148"), and a label set a line lower read as a stray; the left one ends at its tick and the right one
        # starts at its own, so the ticks' gap parts them on one line.  A third close rate goes a line lower.
        close = [bool(k) and np.log10(t / ticks[k - 1]) < 0.08 * span for k, t in enumerate(ticks)]
        align = ["center"] * len(ticks)
        labels = [_khz(t) for t in ticks]
        for k in range(1, len(ticks)):
            if close[k] and align[k - 1] == "center" and not close[k - 1]:
                align[k - 1], align[k] = "right", "left"
                labels[k - 1], labels[k] = labels[k - 1] + " ", " " + labels[k]
            elif close[k]:
                labels[k] = "\n" + labels[k]
        ax2.set_xticks(ticks, labels)
        for text, ha in zip(ax2.get_xticklabels(), align):
            text.set_horizontalalignment(ha)
        ax2.set_xlabel("source sample rate (kHz), before the conversion to 16 kHz")  # "16 kHz (kHz)" read as a stutter (walk18)
    else:
        ax2.set_xlabel({"trim": "trim top_db (dB under peak)", "snr": "SNR of the added noise (dB)", "denoise": "noise reduction prop_decrease",
                        "pitch": "pitch shift (semitones, PSOLA)", "tempo": "tempo factor (PSOLA; >1 faster)"}[kind])


def plot_sweep(df, kind: str, path: str | Path | None = None, *, axes=None):
    """Mean scores (top) and mean confidence / agreement with the reference (bottom) along the grid.

    The mean confidence carries its Student-t 95 % interval over the items (:func:`mean_interval`); a point whose
    change from the reference is within its paired interval (:func:`confidence_change`) is ringed, said in the legend.

    The reference (the unmodified audio) is drawn as horizontal lines, labelled
    as such; sample rates are labelled in kHz.  ``axes``: two matplotlib axes, or
    None for a new figure.  Returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = select_rows(df)
    x_key = _X_KEY[kind]
    ref_name = reference_name(df, kind)
    ref_rows = ok[ok["variant"] == ref_name]
    reference = ref_rows.set_index("id")["pred"]
    ref_conf = ref_rows.set_index("id")["confidence"]
    points = ok[ok["variant"] != ref_name]
    flagged = False
    group_key = {"snr": "denoise", "denoise": "stationary"}.get(kind)
    if axes is None:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10.5, 6.5), sharex=True)
    else:
        ax1, ax2 = axes
        fig = ax1.figure
    groups = [(None, points)] if group_key is None else list(points.groupby(points[group_key].astype(str)))
    palette = plt.get_cmap("tab10")
    all_xs: set = set()
    for gi, (gname, sub) in enumerate(groups):
        xs = sorted({float(x) for x in sub[x_key].dropna() if np.isfinite(x)})
        all_xs.update(xs)
        at = {x: sub[sub[x_key] == x] for x in xs}
        label = "" if gname is None else f" ({_GROUP_WORDS[group_key].get(gname, f'{group_key} {gname}')})"
        # the second group's markers are other shapes, hollow and smaller: equal values of the two groups drew one
        # marker on the other, hiding it
        conf_m, same_m = ("o", "s") if gi == 0 else ("^", "D")
        style = {} if gi == 0 else {"mfc": "none", "ms": 5, "mew": 1.4}
        conf = np.array([mean_interval(at[x]["confidence"])[:3] for x in xs]).reshape(-1, 3)
        # one item per point has no interval: the legend said one was drawn (the table says "one item: no interval")
        bars = "Student-t 95 % interval over the items" if np.isfinite(conf[:, 1]).any() else "one item: no interval, no ring"
        ax2.errorbar(xs, conf[:, 0], yerr=[conf[:, 0] - conf[:, 1], conf[:, 2] - conf[:, 0]], fmt=f"{conf_m}-", capsize=2,
                     color=palette(2 * gi), label=f"mean confidence{label},\n{bars}", **style)
        same_as_ref = [x for x in xs if confidence_change(at[x], ref_conf)[4]]  # the paired interval of the change holds 0
        flagged = flagged or bool(same_as_ref)
        # a ring in its curve's colour, the second group's wider: where the two groups' points coincide, a grey ring of
        # one size could not say which of them is within its interval of the reference
        ax2.scatter(same_as_ref, [conf[xs.index(x), 0] for x in same_as_ref], s=170 if gi == 0 else 320, facecolors="none",
                    edgecolors=[palette(2 * gi)], linewidths=1.2, zorder=1)
        same = np.array([_same_label_counts(at[x], reference) for x in xs]).reshape(-1, 4)
        ax2.errorbar(xs, same[:, 0], yerr=[same[:, 0] - same[:, 2], same[:, 3] - same[:, 0]], fmt=f"{same_m}--", capsize=3,
                     color=palette(2 * gi + 1), label=f"same label as the original audio, exact 95 % interval\n{label.strip()}".strip(), **style)
        if gi == 0:  # the nine mean scores of the first group (no noise reduction / stationary)
            for k, key in enumerate(score_labels(ok)):  # the model's classes: the nine, or a fine-tuned head's
                c = palette(k % 10)
                ax1.plot(xs, [at[x][score_column(key)].mean() for x in xs], "o-", ms=3, color=c, label=figure_text(key))
                if len(ref_rows):
                    ax1.axhline(ref_rows[score_column(key)].mean(), color=c, lw=0.8, ls=":")
    if len(ref_rows):
        rates = sorted({int(r) for r in ref_rows[x_key].dropna()}) if kind == "sample-rate" else []
        what = f"original audio ({', '.join(_khz(r) for r in rates)} kHz source)" if rates else f"original audio ({ref_name})"
        ax2.axhline(ref_rows["confidence"].mean(), color="k", lw=1, ls=":", label=f"mean confidence of the {what}: reference")
        ax1.plot([], [], color="grey", lw=0.8, ls=":", label="dotted: original audio")
    if flagged:  # the ring's meaning, once
        whose = " (ring in the curve's colour)" if len(groups) > 1 else ""
        ax2.scatter([], [], s=90, facecolors="none", edgecolors="0.45", linewidths=1.2,
                    label=f"ringed{whose}: its change of confidence from the reference\nis within its paired 95 % t interval (holds 0)")
    # the scores are drawn for the first group only: say which (they were unlabelled beside two groups of curves below)
    ax1.set_ylabel("mean score" + ("" if group_key is None or not groups else f" ({_GROUP_WORDS[group_key].get(groups[0][0], groups[0][0])})"))
    # legends beside the plots, never over the markers they explain
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax2.set_ylabel("share / confidence")
    ax2.set_ylim(-0.02, 1.02)
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    _label_x_axis(ax2, kind, sorted(all_xs))
    ax1.set_title(f"{kind} sweep over {ok['id'].nunique()} item(s); reference: the original audio ({ref_name})", fontsize=10)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------
# flips: how often an edit changes the label, and where the probability mass goes
# ---------------------------------------------------------------------------
def flip_table(base: Sequence[Any], edited: dict[str, Sequence[Any]]):
    """Per class and edit: how often the label flips, and where the probability mass moves.

    Parameters
    ----------
    base : sequence of Prediction
        The unedited predictions, one per item.
    edited : dict
        Edit name → predictions of the edited items, in the same order as ``base``.

    Returns
    -------
    DataFrame
        Tidy, one row per (edit, base label, class): ``edit``, ``base_label``, ``n`` (items
        whose unedited label is ``base_label``), ``flips`` and ``flip_rate`` (how many and what share of them
        changed label), ``flip_low``/``flip_high`` (its exact 95 % interval over the ``n`` items), ``class``, ``mean_delta`` (mean change of that class's probability) and
        ``to_rate`` (share of them that now have that label).  The rows of one (edit,
        base_label) have ``mean_delta`` summing to 0: mass leaves some classes for others.
    """
    base = list(base)
    if not base:
        raise ConfigError("no base predictions.", fix="predict the unedited items first.")
    labels = list(base[0].labels)
    b_scores = np.stack([p.scores for p in base])
    b_top = np.array([p.label for p in base])
    rows = []
    for name, preds in edited.items():
        preds = list(preds)
        if len(preds) != len(base):
            raise ConfigError(f"edit {name!r} has {len(preds)} predictions for {len(base)} items.", fix="predict every item under every edit.")
        rows += _flip_rows(name, labels, b_scores, b_top, np.stack([p.scores for p in preds]), np.array([p.label for p in preds]))
    return _flip_frame(rows)


FLIP_COLUMNS = ["edit", "base_label", "n", "flips", "flip_rate", "flip_low", "flip_high", "class", "mean_delta", "to_rate"]


def _flip_rows(name, labels, b_scores, b_top, e_scores, e_top) -> list[dict]:
    """The rows of one edit; ``flip_low``/``flip_high``: the exact (Clopper–Pearson) 95 % interval of the flip rate over
    its ``n`` items (a rate of 0 of 3 items is no evidence of stability: its interval reaches 0.71)."""
    from scipy.stats import binomtest

    rows = []
    for lab in sorted(set(b_top)):
        sel = b_top == lab
        n, flips = int(sel.sum()), int(np.count_nonzero(e_top[sel] != lab))
        delta = (e_scores[sel] - b_scores[sel]).mean(axis=0)
        ci = binomtest(flips, n).proportion_ci(confidence_level=0.95, method="exact")
        for j, cls in enumerate(labels):
            rows.append({"edit": name, "base_label": lab, "n": n, "flips": flips, "flip_rate": flips / n,
                         "flip_low": float(ci.low), "flip_high": float(ci.high), "class": cls,
                         "mean_delta": float(delta[j]), "to_rate": float(np.mean(e_top[sel] == cls))})
    return rows


def _flip_frame(rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


def flip_table_from_results(results, reference: str, *, labels: Sequence[str] | None = None):
    """:func:`flip_table` from a run's (or sweep's) results table: each variant against ``reference``.

    ``results`` has ``id``, ``variant``, ``status``, ``pred`` and ``score_<label>`` columns; an
    item counts for a variant when both its reference row and its row there are ``ok``; a variant with none has one
    row of ``n`` 0 (its rates empty).
    """
    labels = list(labels or score_labels(results))
    missing = [c for c in ("id", "variant", "status", "pred", *score_columns(labels)) if c not in results.columns]
    if missing:
        raise ConfigError(f"the results table lacks column(s) {missing}.", fix="pass a run's results.parquet (or a sweep's table).")
    ok = select_rows(results)
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    if reference not in variants:
        raise ConfigError(f"no reference variant {reference!r}; the variants are {variants}.", fix="pass one of them.")
    ref = ok[ok["variant"] == reference].set_index("id")
    cols = score_columns(labels)
    rows = []
    for name in variants:
        if name == reference:
            continue
        sub = ok[ok["variant"] == name].set_index("id")
        ids = ref.index.intersection(sub.index)
        if not len(ids):  # a grid point with no item scored under both: one row of n 0 says so (it was left out unsaid)
            rows.append(dict.fromkeys(FLIP_COLUMNS, float("nan")) | {"edit": name, "base_label": "", "n": 0, "flips": 0, "class": ""})
            continue
        rows += _flip_rows(name, labels, ref.loc[ids, cols].to_numpy(float), ref.loc[ids, "pred"].astype(str).to_numpy(),
                           sub.loc[ids, cols].to_numpy(float), sub.loc[ids, "pred"].astype(str).to_numpy())
    return _flip_frame(rows)
