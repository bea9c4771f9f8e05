"""What keeps figures from dominating `metrics` and `embeddings`, checked against what it replaced.

* the vectorised bootstrap of WA / UAR / macro-F1 against one scikit-learn call per resample (the oracle);
* the fixed margins of the metrics figures (no ``tight_layout``): every label inside the image;
* the cached UMAP / t-SNE projection: read back for the same embeddings, recomputed for others or a damaged file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn

from test_figures import _results
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import (bootstrap_ci, breakdown_table, evaluate, headline, headline_intervals, plot_breakdown,
                               plot_confusion, plot_reliability)
from workbench.runs.folder import RunFolder  # noqa: F401
from workbench.runs.writer import RunWriter

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.mark.parametrize("items,n_codes,classes", [(300, 9, [0, 2, 3, 5]), (25, 5, [0, 1, 2, 3, 4]), (6, 4, [1, 3])])
def test_vectorised_bootstrap_equals_one_scikit_learn_call_per_resample(items, n_codes, classes):
    rng = np.random.default_rng(items)
    t = rng.integers(0, n_codes, items)
    p = np.where(rng.random(items) < 0.5, t, rng.integers(0, n_codes, items))  # half right, half anything
    with sklearn.config_context(skip_parameter_validation=True):
        oracle = bootstrap_ci(headline(classes), t, p, n=200, seed=7)
    # small blocks: several draws of the generator must give the same resamples as one
    got = headline_intervals(t, p, classes, n=200, seed=7, block_items=items * 3)
    np.testing.assert_allclose(np.asarray(got), np.asarray(oracle), rtol=0, atol=1e-12)
    assert headline_intervals(t, p, classes, n=200, seed=8) != got  # the seed matters
    assert headline_intervals([], [], classes) == [(pytest.approx(np.nan, nan_ok=True),) * 2] * 3


def test_a_group_breakdown_keeps_evaluate_s_numbers():
    # the point figures are evaluate()'s on the group; the intervals are the class-stratified ones of
    # workbench.analysis.groups (resamples keep the group's class set), so they only have to hold the point
    res = _results()
    table = breakdown_table(res, "speaker", n_boot=100)
    for _, row in table.iterrows():
        r = evaluate(res[res["speaker"] == row["group"]], n_boot=100, by=())
        assert row["n"] == r.n_scored
        for name in ("wa", "uar", "macro_f1"):
            assert row[name] == pytest.approx(getattr(r, name))
            assert row[f"{name}_lo"] - 1e-9 <= row[name] <= row[f"{name}_hi"] + 1e-9


def test_plot_breakdown_refuses_another_variant_s_report():
    res = pd.concat([_results(), _results().assign(variant="quiet")], ignore_index=True)
    other = evaluate(res, variant="quiet", n_boot=20)
    with pytest.raises(ConfigError, match="variant 'quiet'"):
        plot_breakdown(res, "speaker", variant="raw", n_boot=20, overall=other)
    plt.close("all")


def _inside(fig) -> list[str]:
    """Texts of the figure (tick labels, axis labels, titles, colour bar) that reach outside the image."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    out = []
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        # tick labels the locator made beyond the limits are not drawn
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *[t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1],
                 *[t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]]
        for t in texts:
            if not t.get_text() or not t.get_visible():
                continue
            e = t.get_window_extent(renderer)
            if e.x0 < box.x0 - 0.5 or e.y0 < box.y0 - 0.5 or e.x1 > box.x1 + 0.5 or e.y1 > box.y1 + 0.5:
                out.append(t.get_text())
    return out


def test_metrics_figures_with_fixed_margins_show_every_label(tmp_path):
    res = _results()
    # long labels: a speaker name of 24 characters, every class of the model predicted
    res["speaker"] = res["speaker"].map({"s0": "a-rather-long-speaker-id", "s1": "s1", "s2": "s2"})
    res.loc[res.index[:9], "pred"] = LABEL_KEYS
    rep = evaluate(res, n_boot=50)
    for fig in (plot_confusion(rep), plot_reliability(rep), plot_breakdown(res, "speaker", n_boot=50, overall=rep)):
        assert _inside(fig) == []
        # and the plot area is not squeezed to nothing by the margins
        w, h = fig.get_size_inches()
        pos = fig.axes[0].get_position()
        assert pos.width * w > 2.0 and pos.height * h > 1.5
        plt.close(fig)


def _emb_run(path, n=40, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    w = RunWriter(path)
    w.prepare({"model": "synthetic"}, ())
    from test_probe import synthetic_row  # a whole row (scores summing to 1): run folders validate what they read

    rows = [synthetic_row(f"u{i}", emotion=LABEL_KEYS[i % 4], pred=LABEL_KEYS[i % 4]) for i in range(n)]
    w.write_part(rows, [rng.standard_normal(dim).astype(np.float32) for _ in range(n)])
    w.finalize(item_order={f"u{i}": i for i in range(n)}, variant_order={"raw": 0}, summary=lambda r: {"rows": len(r)})
    return w.folder


def test_a_slow_projection_is_cached_in_the_run_folder_by_the_embeddings_hash(tmp_path, monkeypatch):
    import workbench.analysis.embeddings as E

    rf = _emb_run(tmp_path / "run")
    emb = E.load_run_embeddings(rf.path)
    calls = []
    real = E.project
    monkeypatch.setattr(E, "project", lambda x, method="pca", **kw: calls.append(method) or real(x, method, **kw))
    xy, cached = E.project_run(emb, "tsne", seed=0)
    assert not cached and xy.shape == (40, 2) and calls == ["tsne"]
    again, cached = E.project_run(emb, "tsne", seed=0)
    assert cached and calls == ["tsne"]
    np.testing.assert_array_equal(again, xy.astype(np.float32))
    # another seed, other embeddings: computed again
    _, cached = E.project_run(emb, "tsne", seed=1)
    assert not cached
    emb.matrix[0, 0] += 1.0
    _, cached = E.project_run(emb, "tsne", seed=1)
    assert not cached and calls == ["tsne"] * 3
    # a damaged cache file is recomputed, not trusted; PCA is never cached
    (rf.path / "projection_tsne_cache.npz").write_bytes(b"not an npz")
    _, cached = E.project_run(emb, "tsne", seed=1)
    assert not cached
    _, cached = E.project_run(emb, "pca")
    assert not cached and not (rf.path / "projection_pca_cache.npz").exists()
