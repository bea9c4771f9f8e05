"""A 2-D map of the embeddings ships with the check that makes it readable: its trustworthiness (scikit-learn's, 5 map
neighbours) beside a random layout of the same points.  A PCA of isotropic noise in 64 dimensions keeps next to none of
the neighbourhoods, and was drawn as any map is; now the screen, --json, every projection figure's title and the
EmbeddingMap widget say NEIGHBOURHOODS NOT KEPT, and a map of planted clusters says nothing of the kind."""

from __future__ import annotations

import json

import numpy as np
from sklearn.manifold import trustworthiness

from test_probe import synthetic_row, write_run
from workbench.analysis.embeddings import project, projection_trust
from workbench.cli import main


def _planted(rng, n_per=40, dim=64):
    return np.concatenate([c + rng.standard_normal((n_per, dim)) for c in np.eye(dim)[:4] * 8])


def test_trustworthiness_is_scikit_learns_and_noise_is_flagged_but_planted_clusters_are_not():
    rng = np.random.default_rng(0)
    planted, noise = _planted(rng), rng.standard_normal((160, 64))
    good, bad = projection_trust(planted, project(planted, "pca")), projection_trust(noise, project(noise, "pca"))
    assert good["trustworthiness"] == trustworthiness(planted, project(planted, "pca"), n_neighbors=5)
    assert good["flag"] == "" and good["trustworthiness"] > 0.85 and 0.4 < good["random_layout"] < 0.6
    assert bad["flag"].startswith("NEIGHBOURHOODS NOT KEPT: trustworthiness") and bad["trustworthiness"] < (1 + bad["random_layout"]) / 2
    few = projection_trust(noise[:8], noise[:8, :2])
    assert few["trustworthiness"] is None and few["flag"] == "" and "8 items (it needs 12 or more)" in few["words"]
    one = projection_trust(np.ones((20, 4)), np.zeros((20, 2)))
    assert one["trustworthiness"] is None and "identical" in one["words"]


def test_a_map_of_noise_is_flagged_on_screen_in_json_in_its_figures_and_in_the_widget(tmp_path, capsys):
    from workbench.views.run_browser import EmbeddingMap

    rng = np.random.default_rng(3)
    rows = [synthetic_row(f"n{i}", emotion=["angry", "sad"][i % 2], speaker=f"s{i % 4}") for i in range(120)]
    rf = write_run(tmp_path / "noise", rows, rng.standard_normal((120, 64)))
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e"), "--color-by", "emotion"]) == 0
    out = capsys.readouterr().out
    assert "PCA map: trustworthiness" in out and "!! NEIGHBOURHOODS NOT KEPT" in out
    titles = json.loads((tmp_path / "e" / "artifacts.json").read_text())
    drawn = [" ".join(v["titles"]) for k, v in titles.items() if k.startswith("projection_pca")]
    assert drawn and all("NEIGHBOURHOODS NOT KEPT" in t for t in drawn)
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e2"), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["projection_check"]
    assert check["flag"].startswith("NEIGHBOURHOODS NOT KEPT") and check["neighbours"] == 5 and check["items"] == 120
    assert "NEIGHBOURHOODS NOT KEPT" in EmbeddingMap(rf).plot.layout.title.text
    planted = write_run(tmp_path / "planted", rows, _planted(rng, n_per=30))
    assert main(["embeddings", str(planted.path), "--out", str(tmp_path / "e3")]) == 0
    assert "NEIGHBOURHOODS NOT KEPT" not in capsys.readouterr().out
