"""The shared plot functions: drawn on a given axes, readable, and showing what they claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import breakdown_table, evaluate, plot_breakdown, plot_confusion, plot_reliability, uar

plt = pytest.importorskip("matplotlib.pyplot")


def _results(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A results table: three speakers, four classes; speaker s2's predictions are mostly right, s0's mostly wrong."""
    rng = np.random.default_rng(seed)
    classes = ["angry", "happy", "neutral", "sad"]
    rows = []
    for i in range(n):
        spk = f"s{i % 3}"
        true = classes[i % 4]
        right = rng.random() < {"s0": 0.3, "s1": 0.6, "s2": 0.9}[spk]
        pred = true if right else classes[(i + 1 + int(rng.integers(0, 3))) % 4]
        conf = float(np.clip(rng.normal(0.75 if right else 0.55, 0.12), 0.12, 0.99))
        scores = {f"score_{k}": (conf if k == pred else (1 - conf) / 8) for k in LABEL_KEYS}
        rows.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": true, "pred": pred, "confidence": conf,
                     "speaker": spk, **scores})
    return pd.DataFrame(rows)


def _texts(ax):
    return [t for t in ax.texts if t.get_text()]


def test_confusion_cells_show_counts_and_row_shares_readably_with_a_colour_bar():
    res = _results()
    rep = evaluate(res, n_boot=50)
    fig, ax = plt.subplots()
    assert plot_confusion(rep, ax=ax) is fig
    m = np.asarray(rep.confusion)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in _texts(ax)}
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            share = m[i, j] / m[i].sum() * 100
            assert texts[(i, j)].get_text() == f"{m[i, j]}\n{share:.0f}%"
            assert texts[(i, j)].get_fontsize() >= 9
    assert len(fig.axes) == 2 and "row %" in fig.axes[1].get_ylabel()  # the colour bar
    plt.close(fig)


def test_reliability_bins_are_bars_with_their_counts():
    rep = evaluate(_results(), n_boot=50)
    fig = plot_reliability(rep)
    ax = fig.axes[0]
    filled = [b for b in rep.reliability if b["n"]]
    bars = [p for p in ax.patches if p.get_height() > 0]
    assert len(bars) == len([b for b in filled if b["accuracy"] > 0])
    heights = sorted(round(p.get_height(), 6) for p in bars)
    assert heights == sorted(round(b["accuracy"], 6) for b in filled if b["accuracy"] > 0)
    assert sorted(t.get_text() for t in _texts(ax)) == sorted(f"n={b['n']}" for b in filled)
    assert sum(b["n"] for b in filled) == 120 and "over 120 items" in ax.get_title()
    plt.close(fig)


def test_breakdown_by_speaker_shows_each_groups_interval():
    res = _results()
    table = breakdown_table(res, "speaker", n_boot=200)
    assert list(table["group"]) == ["s0", "s1", "s2"] and list(table["n"]) == [40, 40, 40]
    classes = ["angry", "happy", "neutral", "sad"]
    for g, row in table.set_index("group").iterrows():
        sub = res[res["speaker"] == g]
        t, p = sub["emotion"].to_numpy(), sub["pred"].to_numpy()
        assert row["uar"] == pytest.approx(uar(t, p, classes))
        # an independent class-stratified bootstrap (each class resampled within itself): same interval up to resampling noise
        rng = np.random.default_rng(5)
        strata = [np.flatnonzero(t == c) for c in classes]
        reps = [uar(t[j], p[j], classes) for j in (np.concatenate([rng.choice(s, len(s)) for s in strata]) for _ in range(1000))]
        assert (row["uar_lo"], row["uar_hi"]) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])), abs=0.04)
        assert row["uar_lo"] <= row["uar"] <= row["uar_hi"]
    assert table.set_index("group").loc["s2", "uar"] > table.set_index("group").loc["s0", "uar"]
    fig, ax = plt.subplots()
    assert plot_breakdown(res, "speaker", n_boot=200, ax=ax) is fig
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["s0 (n=40)", "s1 (n=40)", "s2 (n=40)"]
    (segs,) = [c for c in ax.collections if hasattr(c, "get_segments")][:1]
    spans = np.array([np.asarray(s)[:, 0] for s in segs.get_segments()])
    np.testing.assert_allclose(spans, table[["uar_lo", "uar_hi"]].to_numpy(), atol=1e-9)
    plt.close(fig)
    with pytest.raises(Exception, match="no such column"):
        breakdown_table(res, "accent")


def test_projection_axes_say_pca_s_share_of_variance_and_name_umap_s_axes():
    """A PCA map's axes read "PC1 (xx.x % of variance)", the shares scikit-learn's; UMAP and t-SNE axes are numbered only."""
    from sklearn.decomposition import PCA

    from workbench.analysis.embeddings import plot_projection, project

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((60, 16)) * np.linspace(3, 0.2, 16)).astype(np.float32)
    rows = pd.DataFrame({"emotion": rng.choice(["angry", "sad"], 60)})
    ax = plot_projection(project(x, "pca"), rows, method="pca", matrix=x).axes[0]
    shares = PCA(n_components=2).fit(x).explained_variance_ratio_
    assert ax.get_xlabel() == f"PC1 ({100 * shares[0]:.1f} % of variance)"
    assert ax.get_ylabel() == f"PC2 ({100 * shares[1]:.1f} % of variance)"
    for method, name in (("umap", "UMAP"), ("tsne", "t-SNE")):
        ax = plot_projection(rng.standard_normal((60, 2)), rows, method=method, matrix=x).axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == (f"{name} 1", f"{name} 2")
    plt.close("all")
