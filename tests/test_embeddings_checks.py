"""The silhouette ships with its check: the same clustering procedure (the same ks, the best kept) on single Gaussian
blobs with the embeddings' own mean and covariance, where there is no cluster structure by construction.  A silhouette
that does not beat every blob is flagged on the screen and in the JSON; cluster contents name a corpus's own labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_probe import synthetic_row, write_run
from workbench.analysis.embeddings import Clustering, cluster, identical_words, plot_projection, project
from workbench.cli import main


def test_planted_clusters_beat_every_structureless_blob_and_one_blob_does_not():
    rng = np.random.default_rng(0)
    centres = np.eye(64)[:4] * 6
    planted = np.concatenate([c + rng.standard_normal((30, 64)) for c in centres])
    cl = cluster(planted, null_draws=5)
    assert cl.k == 4 and cl.above_null is True and len(cl.null_silhouettes) == 5
    assert cl.silhouette > max(cl.null_silhouettes) and "above all of them" in cl.null_words()
    # one anisotropic blob: choosing the best k still gives a positive silhouette, which the check unmasks
    blob = rng.standard_normal((40, 16)) @ np.diag(np.linspace(3, 0.1, 16)) + 1.0
    cl = cluster(blob, null_draws=5)
    assert cl.silhouette > 0 and cl.above_null is False
    assert cl.null_words().startswith("NO CLUSTER STRUCTURE beyond a single blob")
    assert cluster(planted, null_draws=0).above_null is None


def test_the_embeddings_command_flags_a_silhouette_no_better_than_a_blob_and_names_corpus_labels(tmp_path, capsys):
    # four items: the silhouette of the best k was printed bare, and the items labelled "calm" showed as "—"
    rng = np.random.default_rng(1)
    rows = [synthetic_row(f"u{i}", emotion="angry" if i < 2 else "", label="angry" if i < 2 else "calm") for i in range(6)]
    rf = write_run(tmp_path / "run", rows, rng.standard_normal((6, 8)))
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "!! silhouette check: NO CLUSTER STRUCTURE beyond a single blob" in out, out
    assert "calm" in out and "—" not in out.split("kmeans:")[1]
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e2"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    clusters = data["clusters"] if "clusters" in data else data["clustering"]
    assert clusters["silhouette_above_null"] is False and len(clusters["silhouette_null"]) == 5


def test_a_check_with_no_defined_blob_silhouette_says_it_was_not_made():
    # identical embeddings: every blob drawn from their (zero) covariance is one point repeated, its silhouette NaN;
    # the words said "reach up to nan" and "NO CLUSTER STRUCTURE", a verdict from a check that was never made
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl = cluster(np.ones((8, 4), np.float32), null_draws=3)
    assert cl.null_silhouettes and all(v != v for v in cl.null_silhouettes)
    assert cl.above_null is None and cl.null_words().startswith("NOT CHECKED") and "nan" not in cl.null_words()
    fine = Clustering("kmeans", 2, np.zeros(8, int), 0.4, {2: 0.4}, [float("nan")] * 5)
    assert fine.above_null is None and fine.null_words().startswith("NOT CHECKED: the silhouette of all 5 single Gaussian blobs")
    assert "nan" not in fine.null_words()
    own_nan = Clustering("kmeans", 2, np.zeros(8, int), float("nan"), {2: float("nan")}, [0.1, 0.2])
    assert own_nan.above_null is None and own_nan.null_words().startswith("NOT CHECKED: the clustering's own silhouette")
    some = Clustering("kmeans", 2, np.zeros(8, int), 0.4, {2: 0.4}, [0.1, float("nan"), 0.2])
    assert some.above_null is True and "reach up to 0.200 (1 of them undefined)" in some.null_words()


def test_an_undefined_silhouette_is_said_to_be_undefined_and_why(tmp_path, capsys):
    # identical embeddings: every k puts all items in one cluster; the first line read "silhouette nan; k=2: nan, …"
    import warnings

    rows = [synthetic_row(f"u{i}", emotion="angry") for i in range(6)]
    rf = write_run(tmp_path / "run", rows, np.ones((6, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e")]) == 0
        out = capsys.readouterr().out
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e2"), "--json"]) == 0
    first = next(line for line in out.splitlines() if "kmeans:" in line)
    assert "nan" not in first and first.startswith("!! ") and "silhouette UNDEFINED" in first, first
    assert "all 6 embeddings are identical" in first and "k=2: undefined" in first
    assert "silhouette check: NOT CHECKED: the clustering's own silhouette is undefined (all embeddings are identical" in out
    clusters = json.loads(capsys.readouterr().out)["clusters"]
    assert clusters["silhouette"] is None and clusters["silhouette_above_null"] is None
    assert clusters["silhouette_words"].startswith("silhouette UNDEFINED: all 6 embeddings are identical")
    assert Clustering("kmeans", 2, np.zeros(8, int), 0.4, {2: 0.4}).silhouette_words() == "silhouette 0.400"


def test_identical_embeddings_are_one_point_in_the_projection_not_rounding_noise(tmp_path, capsys):
    # five bitwise identical embeddings (one clip copied five times) were drawn by PCA as two points 1e-15 apart, the
    # rounding noise stretched over the whole axes as if it were structure
    import warnings

    rng = np.random.default_rng(3)
    one = rng.standard_normal(32).astype(np.float32)
    same = np.tile(one, (5, 1))
    assert identical_words(same).startswith("all 5 embeddings are identical (bitwise)")
    assert np.array_equal(project(same, "pca"), np.zeros((5, 2)))
    nudged = same.copy()
    nudged[2] = np.nextafter(nudged[2], np.float32(np.inf))  # one unit in the last place: rounding, not a difference
    assert "float32 rounding level" in identical_words(nudged) and not project(nudged, "pca").any()
    apart = same + 1e-3 * rng.standard_normal(same.shape).astype(np.float32)
    assert identical_words(apart) == "" and np.ptp(project(apart, "pca"), axis=0).max() > 1e-4
    rows = [synthetic_row(f"u{i}", emotion="angry") for i in range(5)]
    rf = write_run(tmp_path / "run", rows, same.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e")]) == 0
        out = capsys.readouterr().out
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e2"), "--json"]) == 0
    assert "!! all 5 embeddings are identical (bitwise): they are one point" in out, out
    assert json.loads(capsys.readouterr().out)["projection_note"].startswith("all 5 embeddings are identical")
    import pandas as pd

    assert not pd.read_csv(tmp_path / "e" / "projection_pca.csv")[["x", "y"]].to_numpy().any()
    fig = plot_projection(np.zeros((5, 2)), pd.DataFrame({"emotion": ["angry"] * 5}), method="pca", matrix=same)
    assert any("embeddings are identical" in t.get_text() for t in fig.axes[0].texts)


def test_the_embedding_map_widget_says_its_embeddings_are_one_point(tmp_path):
    from workbench.views.run_browser import EmbeddingMap

    rows = [synthetic_row(f"u{i}", emotion="angry") for i in range(5)]
    rf = write_run(tmp_path / "run", rows, np.tile(np.arange(1, 9, dtype=np.float64), (5, 1)))
    w = EmbeddingMap(rf.path)
    assert "all 5 embeddings are identical (bitwise)" in w.plot.layout.title.text and not np.asarray(w.xy).any()


def test_the_embedding_map_escapes_variant_column_and_values_in_its_plotly_html(tmp_path):
    """Plotly renders titles, legend names and hover text as HTML: a variant name, a ``color_by`` column and its
    values are untrusted strings and reach the page escaped; an unknown ``color_by`` is refused naming the columns."""
    import pytest

    from workbench.views.run_browser import EmbeddingMap

    payload = "<img src=x onerror=alert(1)>"
    rows = [synthetic_row(f"u{i}", emotion="angry", variant=payload) for i in range(6)]
    for i, r in enumerate(rows):
        r[payload] = payload if i % 2 else "plain"
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((6, 8)))
    w = EmbeddingMap(rf.path, variant=payload, color_by=payload)
    shown = [w.plot.layout.title.text] + [t.name for t in w.plot.data] + [x for t in w.plot.data for x in t.text]
    assert not any("<img" in s for s in shown), shown
    assert "[&lt;img src=x onerror=alert(1)&gt;], coloured by &lt;img" in w.plot.layout.title.text
    assert "&lt;img src=x onerror=alert(1)&gt; (3)" in [t.name for t in w.plot.data]
    with pytest.raises(ValueError, match=r"color_by='nope' is not a column.*'correct'.*'speaker'"):
        EmbeddingMap(rf.path, variant=payload, color_by="nope")


def test_distinct_embeddings_beside_one_large_constant_coordinate_are_not_merged():
    """The rounding level was measured against the largest value of the whole matrix: six embeddings that differ by
    up to 6e-3 in 767 coordinates of magnitude 1e-3 (exact in float32 to 1e-10), beside one coordinate of 1000 in all
    of them (a transformer's 'massive activation' is such a near-constant outlier), were said to be identical and
    projected as one point, while PCA draws them apart. Each coordinate's rounding is now its own magnitude's, floored
    at the typical coordinate's (a coordinate near zero keeps the noise floor of the others)."""
    rng = np.random.default_rng(0)
    x = (1e-3 * rng.standard_normal((6, 768))).astype(np.float32)
    x[:, 0] = 1000.0
    assert identical_words(x) == ""
    assert np.ptp(project(x, "pca"), axis=0).max() > 1e-3
    near_zero = np.tile(rng.standard_normal(32).astype(np.float32), (5, 1))
    near_zero[:, 7] = 0.0
    near_zero[2, 7] = 1e-9  # float32 rounding noise of a coordinate that is zero: still one point
    assert "rounding level" in identical_words(near_zero)


def test_a_k_chosen_at_the_top_of_the_search_is_flagged_on_screen_and_in_json(tmp_path, capsys):
    """embeddings printed 'kmeans: k=10 (silhouette 0.613; … k=9: 0.600, k=10: 0.613)' as the clusters' number, though 10
    is the last k it tried and the silhouette was still rising: twelve planted clusters, found as ten."""
    rng = np.random.default_rng(3)
    centres = np.eye(32)[:12] * 8
    emb = np.concatenate([c + rng.standard_normal((4, 32)) for c in centres])
    cl = cluster(emb, null_draws=0)
    assert cl.k == 10 and cl.silhouette_by_k[10] > cl.silhouette_by_k[9]
    assert cl.bound_words().startswith("k=10 is the largest k searched (2-10), the silhouette still rising there")
    assert cluster(emb, k=10, null_draws=0).bound_words() == ""  # asked for, not chosen: no search, no bound
    four = np.concatenate([c + rng.standard_normal((10, 32)) for c in centres[:4]])
    assert cluster(four, null_draws=0).k == 4 and cluster(four, null_draws=0).bound_words() == ""
    rows = [synthetic_row(f"u{i}", emotion="angry") for i in range(len(emb))]
    rf = write_run(tmp_path / "run", rows, emb)
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e")]) == 0
    assert f"  !! {cl.bound_words()}" in capsys.readouterr().out
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clusters"]["k_at_search_bound"] == cl.bound_words()


def test_projection_figures_in_an_out_folder_carry_the_random_weights_mark_of_a_random_weights_run(tmp_path, capsys):
    """`embeddings RUN --out DIR` wrote its projection figures through a bare RunFolder(DIR), which knew nothing of the
    run: a random-weights run's figures there had no RANDOM_WEIGHTS_MARK, unlike those written into the run folder."""
    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.runs.folder import RunFolder

    rng = np.random.default_rng(2)
    rows = [synthetic_row(f"u{i}", emotion=("angry", "sad")[i % 2]) for i in range(8)]
    for random_weights in (True, False):
        rf = write_run(tmp_path / f"run{random_weights}", rows, rng.standard_normal((8, 8)), random_weights=random_weights)
        out = tmp_path / f"out{random_weights}"
        assert main(["embeddings", str(rf.path), "--out", str(out), "--cluster", "none"]) == 0
        pngs = {k: v for k, v in RunFolder(out).artifacts().items() if k.endswith(".png")}
        assert pngs and all(v.get("random_weights_mark") == (RANDOM_WEIGHTS_MARK if random_weights else None)
                            for v in pngs.values()), pngs
    capsys.readouterr()


def test_a_projections_legend_names_the_items_without_a_value():
    """The PCA legend of the demo run listed "— (1)" beside the emotions: the unlabelled tone, unnamed."""
    import pandas as pd

    fig = plot_projection(np.random.default_rng(0).standard_normal((3, 2)),
                          pd.DataFrame({"emotion": ["angry", "", None], "speaker": ["a", "b", ""]}), method="pca")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["angry (1)", "no emotion (2)"]
    fig = plot_projection(np.zeros((3, 2)), pd.DataFrame({"speaker": ["a", "b", ""]}), "speaker", method="pca")
    assert "no speaker (1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def _pair_counting_ari(a, b) -> float:
    """Hubert and Arabie's adjusted Rand index from the contingency table's pair counts (scipy's comb), written apart
    from scikit-learn's."""
    from scipy.special import comb

    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)
    index = comb(table, 2).sum()
    rows, cols, total = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum(), comb(len(a), 2)
    expected = rows * cols / total
    return float((index - expected) / ((rows + cols) / 2 - expected))


def test_clusters_whose_labels_are_a_shuffle_are_said_not_to_track_them_on_screen_in_json_and_in_the_figure(tmp_path, capsys):
    """embeddings listed 'cluster 0 (n=30): sad 9, angry 8, happy 7, neutral 6' with nothing to say whether the clusters
    hold the labels at all: four planted clusters labelled at random read as four emotion clusters.  The clusters' adjusted
    Rand index with the labels is now set against shuffled labels, and a failure is flagged wherever the clusters are."""
    from workbench.analysis.embeddings import label_agreement

    rng = np.random.default_rng(4)
    centres = np.eye(32)[:4] * 8
    emb = np.concatenate([c + rng.standard_normal((30, 32)) for c in centres])
    planted = np.repeat(np.arange(4), 30)
    classes = np.array(["angry", "happy", "neutral", "sad"])
    shuffled, tracked = rng.choice(classes, 120), classes[planted]
    tracked[::10] = "neutral"  # mostly the cluster's class
    for labels, passed in ((shuffled, False), (tracked, True)):
        got = label_agreement(planted, labels, seed=0)
        assert got["ari"] == pytest.approx(_pair_counting_ari(labels, planted)) and got["passed"] is passed
        assert got["n"] == 120 and got["permutations"] == 999 and (got["p"] < 0.05) is passed
    # the shuffles' index, counted from the contingency table, is scikit-learn's on the same shuffles
    from sklearn.metrics import adjusted_rand_score

    codes, shuffles = np.unique(shuffled, return_inverse=True)[1], np.random.default_rng(0)
    sk = [adjusted_rand_score(shuffles.permutation(codes), planted) for _ in range(999)]
    assert label_agreement(planted, shuffled, seed=0)["null_95"] == pytest.approx(np.percentile(sk, 95), abs=1e-12)
    assert label_agreement(planted, np.where(planted == 0, "", shuffled))["n"] == 90  # unlabelled items are left out
    assert label_agreement(planted, ["sad"] * 120)["passed"] is None  # one label: nothing to check, said so
    assert "not made" in label_agreement(planted, ["sad"] * 120)["words"]
    flag = "CLUSTERS DO NOT TRACK THE LABELS"
    for labels, flagged in ((shuffled, True), (tracked, False)):
        rows = [synthetic_row(f"u{i}", emotion=str(e)) for i, e in enumerate(labels)]
        rf = write_run(tmp_path / f"run{flagged}", rows, emb)
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / f"e{flagged}"), "--k", "4"]) == 0
        out = capsys.readouterr().out
        assert (f"  !! {flag}: adjusted Rand index with the labels" in out) is flagged, out
        assert flagged or "clusters track the labels: adjusted Rand index" in out
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / f"j{flagged}"), "--k", "4", "--json"]) == 0
        clusters = json.loads(capsys.readouterr().out)["clusters"]
        assert clusters["label_check"]["passed"] is (not flagged)
        # failed_checks is what the projection coloured by cluster puts in its title
        assert any(c.startswith(flag) for c in clusters["failed_checks"]) is flagged
