"""Embeddings (projection, clusters, neighbours, similarity) and speech+text fusion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.cli import main
from workbench.analysis.embeddings import cluster, cosine, load_run_embeddings, nearest, neighbours, project
from workbench.errors import ConfigError
from workbench.analysis.fusion import evaluate_fusion, fusion_data, text_embeddings
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.runs.driver import run

CLASSES = ["angry", "happy", "neutral", "sad"]
SAYS = {
    "angry": ["I am furious about this", "This makes me so angry", "Stop it, I am really mad at you", "How dare you do that, I hate it"],
    "happy": ["I am so happy today", "What a wonderful, joyful day", "This is great news, I love it", "I feel delighted and cheerful"],
    "neutral": ["The meeting is at three o'clock", "Please put the box on the table", "The train leaves from platform two", "It is a regular Tuesday"],
    "sad": ["I feel so sad and lonely", "I miss her terribly, I want to cry", "Everything is hopeless and grey", "I am heartbroken and miserable"],
}
UNRELATED = ["The report has twelve pages", "Turn left at the second corner", "The kettle is in the kitchen", "We counted the chairs",
             "The bus was on time", "Paint the fence green", "The file is on the desk", "Water boils at a hundred degrees"]


def fusion_dataset(root, *, text_carries_label: bool, speakers: int = 8, per_class: int = 2, missing_text: bool = False):
    """Audio unrelated to the label (random seeds); text that carries it, or not."""
    rng = np.random.default_rng(7)
    items = []
    for s in range(speakers):
        for c in CLASSES:
            for r in range(per_class):
                i = len(items)
                path = root / "audio" / f"{i:03d}.wav"
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, speech_like(16000, 1.0, seed=1000 + i), 16000, subtype="PCM_16")
                text = SAYS[c][rng.integers(4)] if text_carries_label else UNRELATED[rng.integers(len(UNRELATED))]
                items.append(Item(id=f"i{i:03d}", path=str(path), label=c, emotion=c, text=text, speaker=f"spk{s}"))
    if missing_text:
        items[0].text = ""
    return write_manifest(Manifest(items, root=root), root / f"manifest_{text_carries_label}.csv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("fusion")
    out = {}
    for carries in (True, False):
        m = fusion_dataset(root, text_carries_label=carries, missing_text=carries)
        out[carries] = root / f"run_{carries}"
        run(m, out_dir=out[carries], model=tiny_model, cache_dir=root / "cache")
    return out


# ---------------------------------------------------------------- fusion


def test_fusion_beats_speech_when_the_text_carries_the_label(runs):
    data = fusion_data(runs[True])
    assert data.excluded == {"missing transcript": ["i000"]}  # reported, not silently dropped
    assert len(data.y) == 63 and data.classes == CLASSES
    res = evaluate_fusion(data, folds=4, n_boot=500)
    m, c = res.metrics, res.comparisons
    chance = 0.25
    assert m["speech"]["uar_ci"][0] <= chance + 0.05  # the audio carries nothing
    for method in ("text", "early", "late"):
        assert m[method]["uar"] > 0.8, (method, m[method])
        assert c[method]["delta_uar"][1] > 0, (method, c[method])  # better than speech beyond the paired interval
        assert c[method]["mcnemar_p"] < 0.01 and c[method]["fixed"] > c[method]["broke"]
    assert all(0.0 <= w <= 1.0 for w in res.weights) and max(res.weights) <= 0.5  # the random head earns little weight
    assert set(res.changes["change"]) <= {"fixed", "broke"} and (res.changes["method"] != "speech").all()


def test_nothing_beats_chance_when_neither_modality_carries_the_label(runs):
    res = evaluate_fusion(fusion_data(runs[False]), folds=4, n_boot=500)
    for method, v in res.metrics.items():
        assert v["uar_ci"][0] <= 0.25 <= v["uar_ci"][1] or v["uar_ci"][1] < 0.25, (method, v)


def test_folds_are_speaker_independent(runs):
    from workbench.analysis.fusion import _splits

    data = fusion_data(runs[False])
    outer, n = _splits(data.groups, 5)
    assert n == 5
    for train, test in outer.split(data.speech, data.y, data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])


def test_fuse_command_writes_its_files(runs, capsys):
    assert main(["fuse", str(runs[True]), "--folds", "4", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "excluded: 1 item(s) with missing transcript" in out
    assert "4-fold speaker-independent CV" in out and "early" in out and "ΔUAR vs speech" in out
    payload = json.loads((runs[True] / "fusion.json").read_text())
    assert payload["n_speakers"] == 8 and payload["chance_uar"] == 0.25 and "RANDOM WEIGHTS" in payload["warning"]
    items = pd.read_csv(runs[True] / "fusion_items.csv")
    assert len(items) == 63 and {"pred_speech", "pred_text", "pred_early", "pred_late", "pred_head"} <= set(items.columns)
    assert (runs[True] / "fusion.png").is_file() and (runs[True] / "fusion_changes.csv").is_file()
    assert payload["warnings"] == [] and payload["text_checks"]["label_information"]["carries_label"]
    assert payload["text_checks"]["language"]["language"] == "en"


def test_fuse_warns_when_the_text_carries_no_label(runs, capsys):
    assert main(["fuse", str(runs[False]), "--folds", "4", "--bootstrap", "50", "--no-figures"]) == 0
    captured = capsys.readouterr()
    assert "warning: the transcripts carry no measurable label information" in captured.out
    # once on the screen: the logged copy went to stderr as well, so a terminal showed the warning twice
    assert (captured.out + captured.err).count("carry no measurable label information") == 1, captured.err
    payload = json.loads((runs[False] / "fusion.json").read_text())
    assert len(payload["warnings"]) == 1 and not payload["text_checks"]["label_information"]["carries_label"]


def test_fusion_input_errors(tmp_path, tiny_model):
    items = [Item(id=f"a{i}", path=str(tmp_path / f"a{i}.wav"), label=["happy", "sad"][i % 2], emotion=["happy", "sad"][i % 2], text="hello there", speaker="one")
             for i in range(4)]
    for it in items:
        sf.write(it.path, speech_like(16000, 1.0, seed=1), 16000)
    m = write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv")
    run(m, out_dir=tmp_path / "r", model=tiny_model, cache_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="at least two speakers"):
        fusion_data(tmp_path / "r")
    with pytest.raises(ConfigError, match="texts are empty"):
        text_embeddings(["fine", "  "])


def test_default_text_model_is_offline_and_meaningful():
    e = text_embeddings(["I am so happy", "I am very glad", "The invoice is overdue"])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.2


# ------------------------------------------------------------- embeddings


def test_run_embeddings_load_memory_mapped_and_aligned(runs, tiny_model):
    emb = load_run_embeddings(runs[False])
    assert len(emb) == 64 and emb.matrix.dtype == np.float32
    direct = tiny_model.predict([__import__("workbench").load_audio(emb.rows["path"].iloc[5])])[0].embedding
    assert cosine(direct, emb.matrix[5]) > 0.99999
    with pytest.raises(ConfigError, match="variant 'nope'"):
        load_run_embeddings(runs[False], variant="nope")


def test_nearest_and_clusters_on_known_geometry():
    rng = np.random.default_rng(0)
    centres = np.eye(16)[:3] * 10
    x = np.concatenate([c + rng.standard_normal((20, 16)) for c in centres]).astype(np.float32)
    for method in ("kmeans", "agglomerative"):
        cl = cluster(x, method)
        assert cl.k == 3 and cl.silhouette > 0.5
        assert all(len(set(cl.labels[i * 20:(i + 1) * 20])) == 1 for i in range(3))
    m = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    hits = nearest(m, np.array([1, 0.1], np.float32), k=2)
    assert [i for i, _ in hits] == [0, 2] and hits[0][1] == pytest.approx(1 / np.sqrt(1.01))
    assert [i for i, _ in nearest(m, m[0], k=2, exclude=0)] == [2, 1]


def test_a_clusters_composition_on_screen_says_its_total_and_the_classes_it_leaves_out():
    from types import SimpleNamespace

    from workbench.cli.analysis import _clusters

    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(8)]  # one cluster holds more classes than a line names
    wide = [c for i, c in enumerate(classes) for _ in range(len(classes) - i)]
    narrow = classes[:2] * 5
    x = np.concatenate([np.eye(8)[0] * 10 + rng.standard_normal((len(wide), 8)),
                        np.eye(8)[1] * 10 + rng.standard_normal((len(narrow), 8))]).astype(np.float32)
    rows = pd.DataFrame({"emotion": wide + narrow})
    lines = []
    found = _clusters(SimpleNamespace(cluster="kmeans", k=2, seed=0), SimpleNamespace(matrix=x), rows, lines.append)
    for c, counts in found["emotions_by_cluster"].items():
        (line,) = [ln for ln in lines if ln.startswith(f"  cluster {c}")]
        size = int((rows["cluster"].astype(str) == c).sum())
        assert f"(n={size})" in line and sum(counts.values()) == size
        named = [k for k, v in counts.items() if f"{k} {v}" in line]
        left = [k for k in counts if k not in named]
        if left:  # the classes past those named are counted, with their items
            rest = sum(counts[k] for k in left)
            assert f"… and {len(left)} more class{'es' if len(left) > 1 else ''} of {len(counts)} ({rest} item" in line
        else:
            assert "more class" not in line
    assert any("more class" in ln for ln in lines)


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projections_are_seeded_2d(method):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 24)).astype(np.float32)
    a, b = project(x, method, seed=3), project(x, method, seed=3)
    assert a.shape == (40, 2) and np.allclose(a, b, atol=1e-4)


def test_embeddings_and_similar_commands(runs, capsys, monkeypatch):
    import workbench.cli.analysis as cli_analysis

    drawn = []  # the axis labels of each figure the command writes
    plot = cli_analysis.plot_projection
    monkeypatch.setattr(cli_analysis, "plot_projection", lambda *a, **k: drawn.append(plot(*a, **k)) or drawn[-1])
    assert main(["embeddings", str(runs[False]), "--project", "pca", "--neighbours", "i003", "--top", "3", "--k", "4"]) == 0
    assert drawn and all(f.axes[0].get_xlabel().startswith("PC1 (") and "% of variance)" in f.axes[0].get_ylabel() for f in drawn)
    out = capsys.readouterr().out
    assert "64 embeddings" in out and "kmeans: k=4" in out and "nearest to i003" in out
    proj = pd.read_csv(runs[False] / "projection_pca.csv")
    assert len(proj) == 64 and "cluster" in proj.columns
    assert (runs[False] / "projection_pca_correct.png").is_file()
    rows = pd.read_parquet(runs[False] / "results.parquet")
    a, b = rows["path"].iloc[0], rows["path"].iloc[1]
    assert main(["similar", a, a, "--model", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert main(["similar", a, b, "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "cosine similarity" in out and out.startswith("!! RANDOM WEIGHTS")
    emb = load_run_embeddings(runs[False])
    from workbench.model.network import load_model

    assert neighbours(emb, a, 1, model=load_model("tiny"))["cosine"].iloc[0] == pytest.approx(1.0, abs=1e-5)


def test_a_clusters_unlabelled_items_are_called_unlabelled():
    """`workbench embeddings RUN` of a fine-tuned head's run printed "cluster 2 (n=1): — 1" for an item without a label."""
    from types import SimpleNamespace

    from workbench.cli.analysis import _clusters

    rng = np.random.default_rng(1)
    x = np.concatenate([np.eye(4)[0] * 10 + rng.standard_normal((6, 4)), np.eye(4)[1] * 10 + rng.standard_normal((3, 4))]).astype(np.float32)
    rows = pd.DataFrame({"emotion": ["angry"] * 6 + ["", "", ""], "label": [""] * 6 + ["boredom", "", ""]})
    lines = []
    found = _clusters(SimpleNamespace(cluster="kmeans", k=2, seed=0), SimpleNamespace(matrix=x), rows, lines.append)
    (line,) = [ln for ln in lines if ln.startswith("  cluster ") and "boredom" in ln]
    assert line.endswith("(n=3): unlabelled 2, boredom 1"), lines
    assert {"unlabelled": 2, "boredom": 1} in found["emotions_by_cluster"].values() and "—" not in "".join(lines)


def test_a_fusion_uar_whose_interval_reaches_chance_is_flagged_on_screen_in_json_page_and_figure(runs, capsys, tmp_path):
    """fuse printed 'head UAR 0.281 [0.178, 0.405]' under 'chance UAR 0.250' with no word; metrics and probe flag a UAR
    whose interval reaches chance.  Neither modality carries the label here, so every method's interval reaches it."""
    from workbench.analysis.fusion import plot_fusion
    from workbench.views.reporting import fusion_html

    assert main(["fuse", str(runs[False]), "--folds", "4", "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "f")]) == 0
    screen = capsys.readouterr().out
    payload = json.loads((tmp_path / "f" / "fusion.json").read_text())
    reaching = [m for m, v in payload["metrics"].items() if v["uar_ci"][0] <= 0.25]
    assert reaching, payload["metrics"]
    fig = plot_fusion(payload)
    title = fig.axes[0].get_title().replace("\n", " ")
    page = str(fusion_html(payload))
    for m in payload["metrics"]:
        v = payload["metrics"][m]
        words = f"{m} UAR {v['uar']:.3f} [{v['uar_ci'][0]:.3f}, {v['uar_ci'][1]:.3f}]: "
        flagged = [c for c in payload["checks"] if c.startswith(words)]
        assert bool(flagged) == (m in reaching), (m, payload["checks"])
        if flagged:
            assert "CHANCE" in flagged[0] and "(chance 0.250 over 4 classes)" in flagged[0]
            assert f"!! {flagged[0]}" in screen and f"Check failed:</b> {flagged[0]}" in page
            assert words in title or f"{m} UAR {v['uar']:.3f}" in title, title


def test_an_error_about_a_run_folder_names_the_folder_not_the_python_object(tmp_path, capsys):
    """`workbench fuse runs/head` on a run without transcripts printed "error: RunFolder('runs/head'): no item has …":
    the input named as a Python repr."""
    from test_probe import synthetic_row, write_run

    rows = [synthetic_row(f"i{k}", emotion=("angry", "sad")[k % 2], speaker=f"s{k % 3}") for k in range(6)]
    run = write_run(tmp_path / "run", rows, [[1.0, float(k)] for k in range(6)]).path
    assert main(["fuse", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"error: {run}: no item has a label, a transcript and a speaker" in err and "RunFolder(" not in err, err


def test_a_hub_text_model_with_no_network_is_refused_at_once_from_the_local_cache(monkeypatch, capsys):
    """`fuse RUN --text-model sentence-transformers/all-mpnet-base-v2` without network printed 35 lines of Hugging Face's
    "'[Errno -2] …' thrown while requesting HEAD …" / "Retrying in 8s [Retry 5/5]" and refused after 73 s: offline (or
    unreachable), the local cache is the only place looked in, and the refusal says so."""
    from workbench.analysis.text_model import load_text_model

    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(ConfigError) as exc:
        load_text_model("sentence-transformers/no-such-model-in-any-cache")
    assert "(offline mode is set; looked in the local cache only)" in exc.value.message, exc.value.message
    assert "Retrying" not in capsys.readouterr().err
