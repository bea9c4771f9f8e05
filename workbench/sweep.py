"""Sweeps: the same audio through a grid of one preprocessing knob.

Each grid point is a :class:`~workbench.runs.Variant`, so a sweep is a run
(cache, provenance, failed rows and all) plus curves:

* ``sample-rate``: the source resampled to 8 / 11.025 / 16 / 22.05 / 44.1 /
  48 kHz before the intake's conversion to 16 kHz ("does 8 kHz telephone audio
  make the model unsure?");
* ``trim``: no trim, then ``top_db`` 60 … 20 ("did trimming cut the onset of
  'tài bàng le'?");
* ``snr``: white noise at 40 … 0 dB SNR, each with and without stationary
  noise reduction;
* ``denoise``: noise reduction strength (``prop_decrease``), stationary and not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .labels import LABEL_KEYS
from .manifest import Item, Manifest, read_manifest
from .runs import Variant, run
from .serialize import save_figure


def grid(kind: str) -> list[tuple[Variant, dict]]:
    """Variants of a sweep with the grid coordinates of each."""
    if kind == "sample-rate":
        return [(Variant(f"sr_{r}", ({"name": "resample", "sr": r},)), {"sample_rate": r}) for r in (8000, 11025, 16000, 22050, 44100, 48000)]
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
    raise ConfigError(f"unknown sweep kind {kind!r}; expected sample-rate, trim, snr or denoise.", fix="pass --kind sample-rate|trim|snr|denoise.")


def sweep(source: str | Path, *, kind: str, out_dir: str | Path, model: Any = None, figures: bool = True, **run_kwargs):
    """Run ``source`` (an audio file or a manifest) through the sweep; returns a DataFrame.

    Writes the run folder plus ``sweep.csv`` and ``sweep.png`` into ``out_dir``.
    """
    src = Path(source)
    if src.suffix.lower() in (".csv", ".jsonl", ".parquet"):
        manifest = read_manifest(src)
    else:
        if not src.is_file():
            from .errors import AudioError

            raise AudioError("file not found.", source=str(src), fix="check the path.")
        manifest = Manifest([Item(id=src.stem, path=str(src.resolve()))], root=src.resolve().parent, name=src.stem)
    points = grid(kind)
    result = run(manifest, out_dir=out_dir, model=model, variants=[v for v, _ in points], **run_kwargs)
    df = result.results()
    coords = {v.name: c for v, c in points}
    for key in {k for c in coords.values() for k in c}:
        df[key] = df["variant"].map(lambda name, k=key: coords[name].get(k))
    df["kind"] = kind
    out = Path(out_dir)
    keep = ["id", "variant", *sorted({k for c in coords.values() for k in c}), "status", "pred", "confidence", "margin",
            *[f"score_{k}" for k in LABEL_KEYS], "finding_codes", "error"]
    df[keep].to_csv(out / "sweep.csv", index=False)
    summarise_sweep(df, kind).to_csv(out / "sweep_summary.csv", index=False)
    if figures:
        plot_sweep(df, kind, out / "sweep.png")
    return df


_X_KEY = {"sample-rate": "sample_rate", "trim": "top_db", "snr": "snr_db", "denoise": "prop_decrease"}


def summarise_sweep(df, kind: str):
    """One row per grid point: items, failures, mean confidence and margin, the
    most frequent top label, and the share of items whose label equals the
    reference point's (the sweep's first variant: the unmodified audio)."""
    import pandas as pd

    reference_name = df["variant"].iloc[0]
    ok = df[df["status"] == "ok"]
    reference = ok[ok["variant"] == reference_name].set_index("id")["pred"]
    rows = []
    for name in dict.fromkeys(df["variant"]):
        sub = df[df["variant"] == name]
        good = sub[sub["status"] == "ok"]
        same = good.set_index("id")["pred"].reindex(reference.index) == reference
        rows.append({
            "variant": name, _X_KEY[kind]: sub[_X_KEY[kind]].iloc[0],
            **({"denoise": sub["denoise"].iloc[0]} if kind == "snr" else {}),
            **({"stationary": sub["stationary"].iloc[0]} if kind == "denoise" else {}),
            "items": int(len(sub)), "failed": int((sub["status"] != "ok").sum()),
            "mean_confidence": round(float(good["confidence"].mean()), 4) if len(good) else float("nan"),
            "mean_margin": round(float(good["margin"].mean()), 4) if len(good) else float("nan"),
            "top_label": good["pred"].mode().iloc[0] if len(good) else "",
            "same_label_as_reference": round(float(same.mean()), 4) if len(reference) else float("nan"),
        })
    return pd.DataFrame(rows)


def plot_sweep(df, kind: str, path: str | Path | None = None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"]
    x_key = _X_KEY[kind]
    group_key = {"snr": "denoise", "denoise": "stationary"}.get(kind)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    groups = [(None, ok)] if group_key is None else list(ok.groupby(ok[group_key].astype(str)))
    reference = ok[ok["variant"] == df["variant"].iloc[0]].set_index("id")["pred"]
    for gi, (gname, sub) in enumerate(groups):
        xs = sorted({x for x in sub[x_key].dropna() if np.isfinite(x)})
        finite = sub[sub[x_key].isin(xs)]
        mean_conf = [finite[finite[x_key] == x]["confidence"].mean() for x in xs]
        same = [np.mean(finite[finite[x_key] == x].set_index("id")["pred"].reindex(reference.index) == reference) for x in xs]
        label = "" if gname is None else f"{group_key}={gname}"
        ax2.plot(xs, mean_conf, "o-", label=f"mean confidence {label}")
        ax2.plot(xs, same, "s--", label=f"same label as {df['variant'].iloc[0]} {label}")
        if gi == 0:  # the nine mean scores of the first group (no noise reduction / stationary)
            for k in LABEL_KEYS:
                ax1.plot(xs, [finite[finite[x_key] == x][f"score_{k}"].mean() for x in xs], label=k)
    ax1.set_ylabel("mean score")
    ax1.legend(fontsize=7, ncol=3)
    ax2.set_xlabel(x_key + (" (Hz)" if kind == "sample-rate" else ""))
    ax2.set_ylim(-0.02, 1.02)
    ax2.legend(fontsize=7)
    if kind == "sample-rate":
        ax2.set_xscale("log")
    fig.suptitle(f"{kind} sweep over {ok['id'].nunique()} item(s)")
    return save_figure(fig, path)
