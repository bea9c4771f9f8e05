"""Showing a comparison of runs: the metrics and score-distance figure, one item's scores side by side, and one item
with its audio as scored (for a notebook or a report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.analysis.compare.variants import metric_flags
from workbench.analysis.groups import majority_baseline
from workbench.data.cards import prefixed, run_training_overlap
from workbench.errors import WorkbenchError, html_text
from workbench.runs.artifacts import mark_random_weights
from workbench.runs.folder import as_run_folder
from workbench.schema import SCORE_PREFIX, score_column
from workbench.serialize import save_figure


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def _distance(x) -> str:
    """A score distance for the screen: 4 decimals, or 2 significant digits when it is not 0 but rounds to 0.0000 (a
    precision's 3e-8 printed as 0.0000 beside "84 of 84 paired items … that differ" read as a contradiction)."""
    if x is None or x != x:
        return "n/a"
    return f"{x:.1e}" if x and abs(x) < 5e-5 else f"{x:.4f}"


def plot_runs_comparison(cmp, path: str | Path | None = None):
    """Left: WA and UAR per run with 95 % intervals (first variant); right: per-item TVD of each run pair."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    v = cmp.variants[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(cmp.reports)
    for k, metric in enumerate(("wa", "uar")):
        vals = [getattr(cmp.reports[n][v], metric) for n in names]
        lo = [max(x - cmp.reports[n][v].ci[metric][0], 0) if x == x else 0 for n, x in zip(names, vals)]
        hi = [max(cmp.reports[n][v].ci[metric][1] - x, 0) if x == x else 0 for n, x in zip(names, vals)]
        ax1.errorbar(np.arange(len(names)) + (k - 0.5) * 0.2, vals, yerr=[lo, hi], fmt="o", capsize=5, label=metric.upper())
    ax1.set_xticks(range(len(names)), names)
    ax1.set_xlim(-0.5, len(names) - 0.5)  # every run's slot, also one without markers (NaN), and the ±0.1 offsets
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("95% bootstrap CI")
    majority_drawn = chance_drawn = False
    for k, n in enumerate(names):  # each run's chance UAR over its own scored classes, the line its UAR is read against
        chance = cmp.reports[n][v].chance_uar
        if chance is not None and cmp.reports[n][v].uar == cmp.reports[n][v].uar:
            # named in the legend once, by the first run that draws it (a first run without a UAR left it unnamed)
            ax1.hlines(chance, k - 0.3, k + 0.3, color="grey", ls=":", lw=1.2, label=None if chance_drawn else "chance UAR")
            chance_drawn = True
        # and its majority baseline, the line its WA is read against (the title's flag named it; no line showed it)
        base = majority_baseline(cmp.reports[n][v].support()) if cmp.reports[n][v].wa == cmp.reports[n][v].wa else None
        if base is not None:
            ax1.hlines(base[1] / base[2], k - 0.3, k + 0.3, color="tab:blue", ls="--", lw=1.0,
                       label=None if majority_drawn else "majority baseline (WA)")
            majority_drawn = True
    flat = [f"{n} {m.upper()}" for n in names for m in ("wa", "uar") if cmp.reports[n][v].interval_flags().get(m, "").startswith("zero-width")]
    empty = [n for n in names if cmp.reports[n][v].wa != cmp.reports[n][v].wa]
    notes = ([f"!! zero-width interval ({', '.join(flat)}): no uncertainty shown"] if flat else []) + (
        [f"!! no markers for {', '.join(empty)}: no labelled item its model's classes can score"] if empty else [])
    thin = [f"{n} {m.upper()}" for n in names for m in ("wa", "uar") if "resamples (" in cmp.reports[n][v].interval_flags().get(m, "")]
    notes += [f"!! interval from under 90 % of its resamples ({', '.join(thin)}): read it as rough"] if thin else []
    for key, what in (("wa_majority", "WA "), ("uar_chance", "UAR "), ("few_items", ""), ("small_classes", "")):  # the words up to their details
        said = {n: metric_flags(cmp.reports[n][v]).get(key, "") for n in names}
        for words in dict.fromkeys(w.split(" [")[0].split(":")[0].split(" (")[0] for w in said.values() if w):
            notes.append(f"!! {', '.join(n for n, w in said.items() if w.startswith(words))}: {what}{words}")
    ax1.set_title("\n".join([f"metrics per run [{v}]", *notes]), fontsize=9 if notes else None)
    ax1.legend(fontsize=8)
    # pairs whose models share no class: every TVD is 1 by the names alone (label_sets_note), so no histogram of theirs
    disjoint = [(r["run_a"], r["run_b"]) for r in cmp.agreement.to_dict(orient="records") if r.get("label_sets_note") and r["variant"] == v]
    if len(cmp.items):
        pairs = [(f"{rb} vs {ra}", np.clip(sub["tvd"].to_numpy(dtype=float), 0.0, 1.0))
                 for (ra, rb), sub in cmp.items[cmp.items["variant"] == v].groupby(["run_a", "run_b"], sort=False)
                 if (ra, rb) not in disjoint]
        if pairs:
            # TVD lies in [0, 1]: fixed bins there, as automatic ones fail on values equal up to float noise (runs on
            # disjoint label sets, a fine-tuned head against its parent, all sit at 1 ± 1e-16); the pairs' bars side by
            # side in each bin, as overlaid ones hid a pair under another with the same counts (C vs A under C vs B)
            ax2.hist([tvd for _, tvd in pairs], bins=np.linspace(0.0, 1.0, 31), label=[name for name, _ in pairs])
            ax2.legend(fontsize=8)
    ax2.set_xlabel("total variation distance of an item's scores")
    ax2.set_ylabel("items")
    ax2.set_title("\n".join(["how far the runs' scores move", *(f"!! {rb} vs {ra}: n/a, the runs share no class (TVD 1 by the names "
                                                                   "alone)" for ra, rb in disjoint)]), fontsize=9 if disjoint else None)
    return save_figure(fig, path)


def plot_item_scores(row_a: dict, row_b: dict, names: tuple[str, str] = ("A", "B"), ax=None):
    """The scores of one item under two runs, side by side over both models' classes (each run's true label marked)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 2.8))
    keys = list(dict.fromkeys(k[len(SCORE_PREFIX):] for row in (row_a, row_b) for k in row if str(k).startswith(SCORE_PREFIX)))
    x = np.arange(len(keys))
    for k, (row, name) in enumerate(zip((row_a, row_b), names)):
        ax.bar(x + (k - 0.5) * 0.4, [float(row.get(score_column(c), 0.0) or 0.0) for c in keys], width=0.4, label=f"run {name}: {row['pred']}")
    truths = {row.get("emotion") for row in (row_a, row_b)}  # each run's own truth (a head's anger, its parent's angry)
    labels = [f"[{k}]" if k in truths else k for k in keys]
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    # "([true label])" read as a placeholder left in the title, also over an item that has no true label
    marked = [f"[{k}]" for k in keys if k in truths]
    ax.set_title(f"scores of the two runs; {' and '.join(marked)}: the true label" if marked else
                 "scores of the two runs; the item has no true label", fontsize=9)
    return save_figure(fig)


def show_item(items, i: int = 0) -> list:
    """Row ``i`` of a comparison's items table, for a notebook or a report.

    ``items`` is :attr:`RunsComparison.items`, :meth:`RunsComparison.disagreements`
    or one row of them.  Returns IPython display objects: both runs' predictions
    and distances (escaped HTML), their nine scores side by side (PNG) and the
    audio exactly as it was scored (:meth:`RunFolder.scored_audio`; both runs
    scored the same audio, which :func:`compare_runs` checked).  Show them with
    ``display(*show_item(...))``.  To open the item in the browser widget:
    ``LowConfidenceBrowser(row.run_dir_a).select(row.id, row.variant)``.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import HTML, Audio, Image

    row = items.iloc[i] if hasattr(items, "columns") else items  # a table, or one row of it
    rf_a, rf_b = as_run_folder(row["run_dir_a"]), as_run_folder(row["run_dir_b"])
    a, b = rf_a.row(str(row["id"]), str(row["variant"])), rf_b.row(str(row["id"]), str(row["variant"]))
    esc = html_text
    cosine = row.get("cosine")
    head = HTML(
        # each run's truth, the first's where it has one (a parent's run has none in its head's labels: "true —")
        f"<h4>{esc(str(row['id']))} [{esc(str(row['variant']))}]</h4><p>true <b>{esc(str(a.get('emotion') or b.get('emotion') or '—'))}</b>; "
        f"run {esc(str(row['run_a']))}: <b>{esc(str(a['pred']))}</b> ({float(a['confidence']):.3f}); "
        f"run {esc(str(row['run_b']))}: <b>{esc(str(b['pred']))}</b> ({float(b['confidence']):.3f}); "
        f"TVD {_distance(float(row['tvd']))}, max |Δ score| {_distance(float(row['max_abs_delta']))}, "
        f"embedding cosine {_fmt(None if cosine is None else float(cosine), 4)}</p>")
    fig = plot_item_scores(a, b, (str(row["run_a"]), str(row["run_b"])))
    # the marks every other figure of these runs carries (the item's scores went out with neither)
    overlap = [prefixed(w, f"run {row[k]}: ") for k, rf in (("run_a", rf_a), ("run_b", rf_b)) for w in run_training_overlap(rf)]
    mark_random_weights(fig, random_weights=rf_a.random_weights or rf_b.random_weights, overlap=overlap)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out = [head, Image(data=buf.getvalue(), format="png")]
    try:
        audio = rf_a.scored_audio(a)
        out.append(Audio(data=audio.samples, rate=audio.sr, normalize=True))
    except WorkbenchError as exc:  # a moved or changed file: the rest still shows
        out.append(HTML(f"<p><i>audio unavailable: {esc(str(exc))}</i></p>"))
    return out
