"""The silhouette ships with its check: the same clustering procedure (the same ks, the best kept) on single Gaussian
blobs with the embeddings' own mean and covariance, where there is no cluster structure by construction.  A silhouette
that does not beat every blob is flagged on the screen and in the JSON; cluster contents name a corpus's own labels."""

from __future__ import annotations

import json

import numpy as np

from test_probe import synthetic_row, write_run
from workbench.analysis.embeddings import cluster
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
