"""Runs compared row by row: hand-computed agreement, real checkpoints and precisions, refusals."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import speech_like
from test_probe import synthetic_row, write_run
from test_runs import make_dataset

from workbench.model.checkpoints import ensure_random_checkpoint
from workbench.cli import main
from workbench.analysis.compare import (
    cohen_kappa,
    compare_runs,
    show_item,
    plot_runs_comparison,
    write_runs_comparison,
)
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.model.network import load_model
from workbench.model.ref import ModelRef
from workbench.runs.driver import run

SCORES = [f"score_{k}" for k in LABEL_KEYS]


# ---------------------------------------------------------------- kappa by hand


def test_cohen_kappa_by_hand():
    # p_o = 3/4; marginals a: (1/2, 1/2), b: (1/4, 3/4) → p_e = 1/8 + 3/8 = 1/2; κ = (3/4 − 1/2) / (1 − 1/2) = 1/2
    assert cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"]) == pytest.approx(0.5)
    # perfect agreement over two labels: 1; systematic swap: p_o = 0, p_e = 1/2 → −1
    assert cohen_kappa(["x", "y"], ["x", "y"]) == 1.0
    assert cohen_kappa(["x", "y"], ["y", "x"]) == pytest.approx(-1.0)
    # one label each, different: p_o = 0, p_e = 0 → 0; one and the same label: 0/0 → NaN (not 1)
    assert cohen_kappa(["x", "x"], ["y", "y"]) == 0.0
    assert np.isnan(cohen_kappa(["x", "x", "x"], ["x", "x", "x"]))
    assert np.isnan(cohen_kappa([], []))


# ------------------------------------------------- two synthetic runs, by hand

TRUTH = ["happy", "sad", "angry", "neutral", "happy", "sad", ""]
PRED_A = ["happy", "sad", "sad", "neutral", "sad", "happy", "neutral"]
PRED_B = ["happy", "happy", "angry", "neutral", "sad", "sad", "neutral"]
IDS = ["i0", "i1", "i2", "i3", "i4", "i5", "u0"]


def _onehot(pred, top=0.6):
    rest = (1 - top) / 8
    return {k: (top if k == pred else rest) for k in LABEL_KEYS}


def hand_runs(tmp_path, *, ids=IDS):
    rows_a, rows_b, emb_a, emb_b = [], [], [], []
    for n, (i, t, a, b) in enumerate(zip(ids, TRUTH, PRED_A, PRED_B)):
        rows_a.append(synthetic_row(i, emotion=t, pred=a, scores=_onehot(a)))
        rows_b.append(synthetic_row(i, emotion=t, pred=b, scores=_onehot(b, 0.7 if i == "i3" else 0.6)))
        e = np.array([n + 1.0, 0, 0, 0])
        emb_a.append(e)
        emb_b.append({"i1": np.array([0, 1.0, 0, 0]), "i4": np.array([1.0, 1.0, 0, 0])}.get(i, 2 * e))
    # f0 scored under A, failed under B: excluded from the pair, and said so
    rows_a.append(synthetic_row("f0", emotion="happy", pred="happy"))
    emb_a.append(np.ones(4))
    rows_b.append(synthetic_row("f0", emotion="happy", status="failed"))
    emb_b.append(None)
    a = write_run(tmp_path / "A", rows_a, emb_a, checksum="a" * 64)
    # the same checkpoint at another precision: the embeddings share a space, so their cosine is measured
    b = write_run(tmp_path / "B", rows_b, emb_b, checksum="a" * 64, dtype="bfloat16")
    return a, b


def test_two_runs_by_hand(tmp_path):
    a, b = hand_runs(tmp_path)
    cmp = compare_runs([a, b], n_boot=200)
    (ag,) = cmp.agreement.to_dict(orient="records")
    assert (ag["run_a"], ag["run_b"], ag["variant"], ag["n"]) == ("A", "B", "raw", 7)
    # 4 of 7 labels agree; marginals A (happy 2, sad 3, neutral 2), B (happy 2, sad 2, neutral 2, angry 1):
    # p_e = (2·2 + 3·2 + 2·2) / 49 = 2/7, κ = (4/7 − 2/7) / (1 − 2/7) = 0.4
    assert ag["top1_agreement"] == pytest.approx(4 / 7) and ag["n_label_flips"] == 3
    assert ag["kappa"] == pytest.approx(0.4)
    # a flip moves 0.6 ↔ 0.05 on two scores: max |Δ| 0.55, TVD 0.55; i3 moves 0.6 → 0.7 and 0.05 → 0.0375: max 0.1, TVD 0.1
    assert ag["max_abs_delta_score"] == pytest.approx(0.55) and ag["max_tvd"] == pytest.approx(0.55)
    assert ag["mean_max_abs_delta_score"] == pytest.approx((3 * 0.55 + 0.1) / 7) and ag["mean_tvd"] == pytest.approx((3 * 0.55 + 0.1) / 7)
    # embeddings: same direction except i1 (orthogonal) and i4 (45°)
    assert ag["cosine_min"] == pytest.approx(0.0, abs=1e-12) and ag["cosine_mean"] == pytest.approx((5 + 2 ** -0.5) / 7)
    # the paired statistics on the 6 labelled items: A right on i0 i1 i3, B right on i0 i2 i3 i5
    (c,) = cmp.comparisons
    assert (c.baseline, c.variant, c.scope, c.n_paired) == ("A", "B", "raw", 6)
    assert (c.mcnemar_b, c.mcnemar_c, c.mcnemar_p) == (1, 2, 1.0)
    assert c.delta_wa[0] == pytest.approx(4 / 6 - 3 / 6) and c.n_flips == 3
    assert c.confidence_shift_mean == pytest.approx(0.1 / 7)
    flips = cmp.flips.set_index("id")
    assert list(flips.index) == ["i1", "i2", "i5"]
    assert flips.loc["i1", "broke"] and flips.loc["i2", "fixed"] and flips.loc["i5", "fixed"]
    assert (flips.loc["i2", "pred_a"], flips.loc["i2", "pred_b"]) == ("sad", "angry")
    # most different first: the three flips (TVD 0.55), then i3 (0.1), then the untouched items
    top = cmp.disagreements(4)
    assert list(top["id"]) == ["i1", "i2", "i5", "i3"] and list(top["rank"]) == [1, 2, 3, 4]
    assert top["run_dir_a"].iloc[0] == str(a.path.resolve()) and top["variant"].iloc[0] == "raw"
    assert cmp.excluded == {"B/A [raw]": ["f0"]}
    reports = cmp.reports
    assert reports["A"]["raw"].wa == pytest.approx(4 / 7) and reports["B"]["raw"].n_failed == 1  # f0 is right under A
    assert [r["dtype"] for r in cmp.runs] == ["float32", "bfloat16"]


def test_embeddings_of_other_dimensions_are_not_compared(tmp_path):
    a, _ = hand_runs(tmp_path)
    rows = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_A)] + [synthetic_row("f0", emotion="happy", pred="happy")]
    wide = write_run(tmp_path / "wide", rows, [np.ones(8)] * len(rows), checksum="c" * 64)
    cmp = compare_runs([a, wide], n_boot=20)
    (ag,) = cmp.agreement.to_dict(orient="records")
    assert ag["cosine_min"] is None and ag["cosine_mean"] is None and ag["top1_agreement"] == 1.0 and ag["n"] == 8
    assert cmp.items["cosine"].isna().all() and "n/a" in cmp.render()


def test_untrusted_strings_are_escaped_in_html(tmp_path):
    # the evil ids are items that differ between the runs: only those are listed as most different
    evil = ["i0", "i1&amp", "<b>i2</b>", "i3", "i4", '<script>alert("i5")</script>', "u0"]
    a, b = hand_runs(tmp_path, ids=evil)
    page = compare_runs([a, b], n_boot=50).html()
    assert "<script>" not in page and "<b>i2</b>" not in page
    assert "&lt;script&gt;alert(" in page and "&lt;b&gt;i2&lt;/b&gt;" in page and "i1&amp;amp" in page


def test_ids_from_data_cannot_forge_lines_in_the_printed_comparison(tmp_path):
    # a run folder made before manifests refused such ids (or edited): its ids reach the printed tables as escapes
    evil = ["i0", "i1\x1b[2J", "i2\nerror: forged", "i3", "i4", "i5\u202e", "u0"]  # i1, i2, i5 differ: listed
    a, b = hand_runs(tmp_path, ids=evil)
    text = compare_runs([a, b], n_boot=50).render()
    assert not any(line.startswith("error: forged") for line in text.splitlines())
    assert "\x1b" not in text and "\u202e" not in text
    assert "i2\\nerror: forged" in text and "i1\\x1b[2J" in text


def test_printable_table_escapes_text_cells_and_names_and_leaves_numbers():
    import pandas as pd

    from workbench.errors import printable_table

    frame = pd.DataFrame({"speaker\t": ["a\nb", "c"], "n": [1, 22], "x": [0.5, None]})
    text = printable_table(frame, index=False)
    assert len(text.splitlines()) == 3 and "a\\nb" in text and "speaker\\t" in text and "22" in text and "NaN" in text
    assert frame["speaker\t"].iloc[0] == "a\nb"  # the frame itself is not changed


def test_refusals_name_the_rows(tmp_path):
    a, b = hand_runs(tmp_path)
    rows = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_A)]
    emb = [np.ones(4)] * len(rows)
    short = write_run(tmp_path / "short", rows[:-1] + [synthetic_row("f0", emotion="happy")], emb)
    with pytest.raises(ConfigError, match=r"do not cover the same items: 1 row\(s\) of .* are not in it \(u0 \[raw\]\)"):
        compare_runs([a, short])
    other_chain = [dict(r, chain_hash="other") if r["id"] == "i4" else r for r in rows] + [synthetic_row("f0", emotion="happy")]
    with pytest.raises(ConfigError, match=r"1 row\(s\) differ .* in the preprocessing \(chain_hash\): i4 \[raw\]"):
        compare_runs([a, write_run(tmp_path / "chain", other_chain, emb + [np.ones(4)])])
    other_segment = [dict(r, start=1.5) if r["id"] in ("i2", "i5") else r for r in rows] + [synthetic_row("f0", emotion="happy")]
    with pytest.raises(ConfigError, match=r"2 row\(s\) differ .* segment start: i2 \[raw\], i5 \[raw\]"):
        compare_runs([a, write_run(tmp_path / "seg", other_segment, emb + [np.ones(4)])])
    resampled = write_run(tmp_path / "scipy", rows + [synthetic_row("f0", emotion="happy")], emb + [np.ones(4)], audio={"resampler": "scipy"})
    with pytest.raises(ConfigError, match=r"other intake settings .*resampler 'soxr' ≠ 'scipy'"):
        compare_runs([a, resampled])
    with pytest.raises(ConfigError, match="at least two run folders"):
        compare_runs([a])
    with pytest.raises(ConfigError, match="given twice"):
        compare_runs([a, tmp_path / "A"])
    with pytest.raises(ConfigError, match=r"variant\(s\) \['clean'\] are not in every run"):
        compare_runs([a, b], variants=["clean"])
    cmp = compare_runs([a, b], n_boot=20)
    with pytest.raises(ConfigError, match="inside a compared run folder"):
        write_runs_comparison(cmp, tmp_path / "B" / "cmp")


# ------------------------------------------- real runs: checkpoints, precisions


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("runs")
    manifest = make_dataset(root, n=8, bad=True)  # 8 clips, a broken file (failed row), an item without counterpart
    cache = root / "cache"
    seed1 = load_model(ensure_random_checkpoint("tiny", seed=1), device="cpu")
    out = {
        "f32": run(manifest, out_dir=root / "f32", model=tiny_model, cache_dir=cache).run_dir,
        "bf16": run(manifest, out_dir=root / "bf16", model=ModelRef("tiny", device="cpu", dtype="bfloat16"), cache_dir=cache).run_dir,
        "seed1": run(manifest, out_dir=root / "seed1", model=seed1, cache_dir=cache).run_dir,
    }
    return root, manifest, out


def _oracle(run_a, run_b) -> dict:
    """The agreement numbers straight from the two folders' files, by formula."""
    ra, rb = pd.read_parquet(run_a / "results.parquet"), pd.read_parquet(run_b / "results.parquet")
    ea, eb = np.load(run_a / "embeddings.npy"), np.load(run_b / "embeddings.npy")
    ok = (ra["status"] == "ok").to_numpy() & (rb.set_index("id").loc[ra["id"], "status"] == "ok").to_numpy()
    pos_b = {i: k for k, i in enumerate(rb["id"])}
    ib = np.array([pos_b[i] for i in ra["id"][ok]])
    pa, pb = ra["pred"].astype(str).to_numpy()[ok], rb["pred"].astype(str).to_numpy()[ib]
    sa, sb = ra[SCORES][ok].to_numpy(float), rb[SCORES].to_numpy(float)[ib]
    d = np.abs(sa - sb)
    labels = sorted(set(pa) | set(pb))
    p_o = np.mean(pa == pb)
    p_e = sum(np.mean(pa == c) * np.mean(pb == c) for c in labels)
    kappa = float("nan") if p_e == 1 else (p_o - p_e) / (1 - p_e)
    xa, xb = ea[ok].astype(np.float64), eb[ib].astype(np.float64)
    cos = np.sum(xa * xb, axis=1) / (np.linalg.norm(xa, axis=1) * np.linalg.norm(xb, axis=1))
    return {"n": int(ok.sum()), "top1_agreement": p_o, "kappa": kappa, "n_label_flips": int(np.sum(pa != pb)),
            "max_abs_delta_score": d.max(), "mean_tvd": 0.5 * d.sum(axis=1).mean(), "cosine_min": cos.min(), "cosine_mean": cos.mean(),
            "flipped": sorted(ra["id"].astype(str).to_numpy()[ok][pa != pb])}


def test_checkpoints_and_precisions_agree_with_an_independent_computation(tiny_runs):
    _, _, r = tiny_runs
    cmp = compare_runs([r["f32"], r["bf16"], r["seed1"]], n_boot=100)
    assert [d["dtype"] for d in cmp.runs] == ["float32", "bfloat16", "float32"]
    assert cmp.runs[0]["checksum"] == cmp.runs[1]["checksum"] != cmp.runs[2]["checksum"]
    ag = cmp.agreement.set_index(["run_a", "run_b"])
    assert list(ag.index) == [("A", "B"), ("A", "C"), ("B", "C")]
    for (x, y), (pa, pb) in {("A", "B"): ("f32", "bf16"), ("A", "C"): ("f32", "seed1"), ("B", "C"): ("bf16", "seed1")}.items():
        want, got = _oracle(r[pa], r[pb]), ag.loc[(x, y)]
        assert got["n"] == want["n"] == 9  # 10 rows, the broken file failed in both
        for k in ("top1_agreement", "max_abs_delta_score", "mean_tvd"):
            assert got[k] == pytest.approx(want[k], abs=1e-9), k
        if "seed1" in (pa, pb):  # another checkpoint: its embeddings live in another space, no cosine (issue #26)
            assert pd.isna(got["cosine_min"]) and "different checkpoints" in got["cosine_note"]
        else:
            for k in ("cosine_min", "cosine_mean"):
                assert got[k] == pytest.approx(want[k], abs=1e-9), k
        assert got["n_label_flips"] == want["n_label_flips"]
        assert (np.isnan(got["kappa"]) and np.isnan(want["kappa"])) or got["kappa"] == pytest.approx(want["kappa"])
        if x == "A":
            assert sorted(cmp.flips.loc[cmp.flips["run_b"] == y, "id"]) == want["flipped"]
    # bfloat16 really ran (the scores moved) and moved them a little; the other checkpoint moved them a lot
    assert 0 < ag.loc[("A", "B"), "max_abs_delta_score"] < 0.05 and ag.loc[("A", "B"), "cosine_min"] > 0.99
    assert ag.loc[("A", "C"), "mean_tvd"] > 10 * ag.loc[("A", "B"), "mean_tvd"]
    assert cmp.excluded == {"B/A [raw]": ["broken"], "C/A [raw]": ["broken"], "C/B [raw]": ["broken"]}
    assert cmp.random_weights and "RANDOM WEIGHTS" in cmp.render()


def test_other_audio_or_other_items_are_refused_with_the_ids(tiny_runs, tiny_model):
    root, manifest, r = tiny_runs
    other = root / "other"
    shutil.copytree(root / "audio", other / "audio")
    shutil.copy(manifest, other / "manifest.csv")
    sf.write(other / "audio" / "c003.wav", speech_like(16000, 1.0, seed=99), 16000, subtype="PCM_16")  # same name, other audio
    changed = run(other / "manifest.csv", out_dir=other / "run", model=tiny_model, cache_dir=root / "cache").run_dir
    with pytest.raises(ConfigError, match=r"1 row\(s\) differ .* in the audio \(source_sha256\): c003 \[raw\]"):
        compare_runs([r["f32"], changed])
    fewer = root / "fewer"
    fewer.mkdir()
    lines = (root / "manifest.csv").read_text().splitlines(keepends=True)
    (fewer / "manifest.csv").write_text("".join(line for line in lines if not line.startswith("c007,")).replace("audio/", str(root / "audio") + "/"))
    short = run(fewer / "manifest.csv", out_dir=fewer / "run", model=tiny_model, cache_dir=root / "cache").run_dir
    with pytest.raises(ConfigError, match=r"1 row\(s\) of .* are not in it \(c007 \[raw\]\)"):
        compare_runs([r["f32"], short])


def test_compare_command_with_several_runs(tiny_runs, capsys):
    root, _, r = tiny_runs
    out = root / "cmp"
    assert main(["compare", str(r["f32"]), str(r["bf16"]), str(r["seed1"]), "--out", str(out), "--bootstrap", "100", "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("!! RANDOM WEIGHTS") and "B vs A [raw] (9 items): kappa" in text and "most different items" in text
    assert {p.name for p in out.iterdir()} == {"comparison.json", "agreement.csv", "flips.csv", "disagreements.csv", "comparison.png",
                                               "artifacts.json"}  # the figure's entry: its titles and random-weights mark
    payload = json.loads((out / "comparison.json").read_text())
    assert [x["name"] for x in payload["runs"]] == ["A", "B", "C"] and len(payload["agreement"]) == 3
    items = pd.read_csv(out / "disagreements.csv")
    assert len(items) == 3 * 9 and set(items["run_dir_a"]) == {str(r["f32"].resolve()), str(r["bf16"].resolve())}
    # nothing was written into the compared run folders
    for run_dir in r.values():
        assert not {"comparison.json", "compare.json", "flips.csv"} & {p.name for p in run_dir.iterdir()}
    assert main(["compare", str(r["f32"]), str(r["bf16"]), "--out", str(r["f32"] / "cmp")]) == 2
    assert "inside a compared run folder" in capsys.readouterr().err


def test_the_most_different_item_is_shown_and_opens_in_the_browser(tiny_runs):
    from workbench.runs.folder import RunFolder
    from workbench.views.widgets import LowConfidenceBrowser

    _, _, r = tiny_runs
    cmp = compare_runs([r["f32"], r["seed1"]], n_boot=20)
    top = cmp.disagreements(1)
    row = top.iloc[0]
    head, image, audio = show_item(top)
    assert show_item(row)[0].data == head.data  # a row works as well as the table
    assert row["id"] in head.data and "run A" in head.data and "run B" in head.data and f"{row['tvd']:.4f}" in head.data
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    # the player holds the audio exactly as it was scored
    rf = RunFolder.open(r["f32"])
    scored = rf.scored_audio(rf.row(row["id"], "raw"))
    import io

    played, sr = sf.read(io.BytesIO(audio.data))
    assert sr == scored.sr == 16000 and len(played) == len(scored.samples) and "<audio" in audio._repr_html_()
    assert np.corrcoef(played, scored.samples)[0, 1] > 0.999  # the same waveform (the player normalises its level)
    # the table carries what the browser needs: run folder, id, variant
    for side, run_dir in (("a", r["f32"]), ("b", r["seed1"])):
        b = LowConfidenceBrowser(row[f"run_dir_{side}"], model=RunFolder(run_dir).summary["model"]["path"])  # its paths absolute
        b.select(row["id"], row["variant"])
        assert b.table.value == (row["id"], "raw") and row["id"] in b.detail.value


@pytest.mark.notebook
def test_checkpoint_comparison_report(tiny_runs, capsys):
    root, _, r = tiny_runs
    runs = f"{r['f32']},{r['bf16']}"
    assert main(["report", "checkpoint_comparison", "--out", str(root / "reports"), "-p", f"run_dirs={runs}", "-p", "n_boot=100",
                 "-p", "probe_k=3", "-p", "title=<i>Precision</i> check"]) == 0
    assert capsys.readouterr().out.startswith("!! RANDOM WEIGHTS")
    (folder,) = list((root / "reports" / "checkpoint_comparison").iterdir())
    page = (folder / "checkpoint_comparison.html").read_text(encoding="utf-8")
    assert "RANDOM WEIGHTS" in page[:5000] and "&lt;i&gt;Precision&lt;/i&gt; check" in page and "<i>Precision</i>" not in page
    assert page.split("<h1", 1)[0].count("RANDOM WEIGHTS") == 1  # the comparison's banner; the page added a second above it
    assert "Agreement" in page and "kappa" in page and "Most different items" in page and "data:image/png;base64," in page
    assert "Probe on run A" in page and "speaker" in page and "[INFO]" not in page
    assert "<audio" in page  # the most different item, playable as it was scored
    assert "src=\"http" not in page and "src='http" not in page and "<script" not in page
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["random_weights"] is True and len(metrics["comparison"]["agreement"]) == 1
    (ag,) = metrics["comparison"]["agreement"]
    assert ag["top1_agreement"] == 1.0 and ag["kappa"] is None  # both runs give one label to all: κ undefined, stored as null
    assert metrics["probes"]["A"]["scheme"] == "speaker" and len(metrics["probes"]["A"]["folds"]) == 3


@pytest.mark.parametrize("unfreeze", [0, 2])
def test_a_head_only_finetune_shares_its_parents_embedding_space(tmp_path, unfreeze):
    # `compare runs/f32 runs/head` said the embeddings "live in unrelated spaces" although the head-only fine-tune kept
    # the parent's encoder; with blocks unfrozen they do differ, and the cosine stays n/a
    parent = "a" * 64
    head = tmp_path / "models" / "head"
    head.mkdir(parents=True)
    mode = "head" if not unfreeze else "encoder-full"
    (head / "training_card.json").write_text(json.dumps({"parent": {"id": "parent", "path": str(tmp_path / "parent"), "checksum_sha256": parent},
                                                         "training": {"mode": mode, "unfreeze": unfreeze}}))
    rng = np.random.default_rng(0)
    emb_a = [rng.standard_normal(4) for _ in IDS]
    emb_b = [e + 0.3 * rng.standard_normal(4) for e in emb_a]
    rows_a = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_A)]
    rows_b = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_B)]
    a = write_run(tmp_path / "A", rows_a, emb_a, model=str(tmp_path / "parent"), checksum=parent)
    b = write_run(tmp_path / "B", rows_b, emb_b, model=str(head), checksum="b" * 64)
    cmp = compare_runs([a, b], n_boot=20)
    (ag,) = cmp.agreement.to_dict(orient="records")
    if unfreeze:
        assert ag["cosine_min"] is None and "unrelated spaces" in ag["cosine_note"]
        return
    cos = [float(np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y)) for x, y in zip(emb_a, emb_b)]
    assert ag["cosine_note"] == "" and ag["cosine_min"] == pytest.approx(min(cos), abs=1e-6)
    assert ag["cosine_mean"] == pytest.approx(np.mean(cos), abs=1e-6) and "unrelated spaces" not in cmp.render()


def _measured_in_chromium(tmp_path, cmp, script: str):
    """``script``'s value on the comparison's HTML as the report page shows it, 1,200 px wide, in Chromium."""
    import nbformat
    from test_browser import CHROMIUM, _browser_or_skip
    from workbench.views.html import notebook_html

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": cmp.html()})])])
    page_file = tmp_path / "page.html"
    page_file.write_text(notebook_html(nb, title="checkpoint_comparison"), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            return page.evaluate(script)
        finally:
            browser.close()


@pytest.mark.browser
def test_the_agreement_table_fits_a_1200_px_report_page(tmp_path):
    """The checkpoint comparison's Agreement table (15 columns, heads such as mean_max_abs_delta_score that cannot wrap,
    four decimals, and two long notes) ran past a 1,200 px page: the reader scrolled it sideways.  Measured in Chromium."""
    a, b = hand_runs(tmp_path)
    rows = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_A)] + [synthetic_row("f0", emotion="happy", pred="happy")]
    other = write_run(tmp_path / "other", rows, [np.ones(8)] * len(rows), checksum="c" * 64)  # notes: why each cosine is n/a
    widths = _measured_in_chromium(tmp_path, compare_runs([a, b, other], n_boot=20), """[...document.querySelectorAll('h3')]
        .filter(h => h.textContent == 'Agreement')
        .map(h => [h.nextElementSibling.scrollWidth, h.nextElementSibling.clientWidth, h.nextElementSibling.innerText])""")
    assert len(widths) == 1
    scroll, client, text = widths[0]
    assert scroll <= client, f"the table is {scroll} px wide in a {client} px box: it scrolls"
    assert "used different checkpoints" in text and "0.571" in text and "0.5714" not in text, text


def test_runs_on_disjoint_label_sets_draw_their_distance_figure(tmp_path):
    # a fine-tuned head (its own classes) against its nine-class parent: every item's TVD is 1 up to float noise,
    # which numpy's 30 automatic bins cannot split, so `workbench compare` died on the figure with a ValueError
    rng = np.random.default_rng(0)
    rows_a, rows_b, emb = [], [], []
    for n in range(12):
        a = rng.dirichlet(np.ones(len(LABEL_KEYS)))
        rows_a.append(synthetic_row(f"i{n}", pred=LABEL_KEYS[int(a.argmax())], scores=dict(zip(LABEL_KEYS, a))))
        row = synthetic_row(f"i{n}", pred="hot", scores=dict(zip(LABEL_KEYS, np.zeros(len(LABEL_KEYS)))))
        for k in LABEL_KEYS:
            del row[f"score_{k}"]
        b = rng.dirichlet(np.ones(3))
        row.update({f"score_{k}": float(x) for k, x in zip(("hot", "flat", "low"), b)}, pred=("hot", "flat", "low")[int(b.argmax())],
                   confidence=float(b.max()))
        rows_b.append(row)
        emb.append(rng.standard_normal(4))
    a = write_run(tmp_path / "A", rows_a, emb)
    b = write_run(tmp_path / "B", rows_b, emb, checksum="b" * 64)
    cmp = compare_runs([a, b], n_boot=20)
    # every TVD was 1 up to float noise: the distance the names alone make, now n/a with why (test_head_label_sets)
    assert cmp.items["tvd"].isna().all() and "disjoint label sets" in cmp.agreement.iloc[0]["label_sets_note"]
    paths = write_runs_comparison(cmp, tmp_path / "cmp")
    assert Path(paths["figure"]).stat().st_size > 0


def test_a_run_without_figures_is_flagged_in_the_metrics_panel_and_every_marker_shows(tmp_path):
    # A has no labelled item its model can score (its WA and UAR are NaN): the panel said nothing about it, and with
    # A's markers missing the axis was fitted to B's alone, cutting B's UAR marker in half at the right edge
    rows_a = [synthetic_row(f"i{n}", emotion="", label="calm", pred="happy") for n in range(6)]
    rows_b = [synthetic_row(f"i{n}", emotion=("happy", "sad")[n % 2], pred="happy") for n in range(6)]
    emb = [np.ones(4)] * 6
    cmp = compare_runs([write_run(tmp_path / "A", rows_a, emb), write_run(tmp_path / "B", rows_b, emb, checksum="b" * 64)], n_boot=20)
    ax = plot_runs_comparison(cmp).axes[0]
    assert "A" in ax.get_title() and "no labelled item" in ax.get_title()
    lo, hi = ax.get_xlim()
    assert lo <= -0.1 - 0.05 and hi >= 1 + 0.1 + 0.05  # both runs' WA (−0.1) and UAR (+0.1) markers inside, with room


def _many_flips(tmp_path, n=60):
    rows_a, rows_b = [], []
    for k in range(n):
        emo = "happy" if k % 2 else ""  # every other item unlabelled: neither fixed nor broken
        rows_a.append(synthetic_row(f"angry_en_48k_stereo_{k:03d}", emotion=emo, pred="happy"))
        b = synthetic_row(f"angry_en_48k_stereo_{k:03d}", emotion=emo, pred="surprised", scores=_onehot("surprised", 0.4))
        b["path"] = f"/data/corpora/some/long/folder/of/the/corpus/speaker_{k:03d}/utterance_{k:03d}_take_{k:03d}.wav"
        b["finding_codes"] = "low_confidence,small_margin,high_entropy,low_sample_rate,speech_at_sample_0"
        rows_b.append(b)
    emb = [np.ones(4)] * n
    return compare_runs([write_run(tmp_path / "A", rows_a, emb), write_run(tmp_path / "B", rows_b, emb, checksum="b" * 64)], n_boot=20)


def test_the_label_flips_table_says_how_many_it_shows_and_prints_no_none(tmp_path):
    # "Label flips (60)" above a table of 50 rows, with "None" in fixed/broke for every unlabelled item
    page = _many_flips(tmp_path).html()
    head = page[page.index("<h3>Label flips"):]
    table = head[:head.index("</table>")]
    assert "Label flips (60)" in head and "showing 50 of 60" in head and "flips.csv" in head
    assert table.count("<td>angry_en_48k_stereo_") == 50 and "<td>None</td>" not in table and "<td>—</td>" in table
    assert "<td>broke</td>" in table and "<td>surprised (0.400)</td>" in table


def test_the_label_flips_table_fits_a_1200_px_report_page(tmp_path):
    widths = _measured_in_chromium(tmp_path, _many_flips(tmp_path), """[...document.querySelectorAll('h3')]
        .filter(h => /^(Label flips|Most different)/.test(h.textContent))
        .map(h => { let t = h.nextElementSibling; while (t.tagName != 'TABLE') t = t.nextElementSibling;
                    return [t.scrollWidth, t.clientWidth]; })""")
    assert len(widths) == 2
    for scroll, client in widths:
        assert scroll <= client, f"the table is {scroll} px wide in a {client} px box: it scrolls"


def test_identical_runs_list_no_most_different_item(tmp_path):
    # two runs of identical scores listed five "most different items", every one at TVD 0.0000
    a, _ = hand_runs(tmp_path)
    b = shutil.copytree(a.path, tmp_path / "A_again")
    cmp = compare_runs([a.path, b], n_boot=50)
    assert len(cmp.items) and len(cmp.disagreements(5)) == 0
    text = cmp.render()
    assert "most different items: none; all 8 paired items have the same scores (TVD 0)" in text
    assert "0.0000         0.0000" not in text
    assert "None: every paired item has the same scores in both runs" in cmp.html()


def test_most_different_items_are_only_those_that_differ(tmp_path):
    a, b = hand_runs(tmp_path)
    cmp = compare_runs([a, b], n_boot=50)
    top = cmp.disagreements(10)
    assert list(top["id"]) == ["i1", "i2", "i5", "i3"] and (top["tvd"] > 0).all()  # i0, i4, u0: same scores in both runs
    assert "most different items (4 of the 7 paired items per pair have other scores; the 4 with the largest total variation distance):" in cmp.render()


def test_unlabelled_runs_say_there_are_no_labels_not_nan_or_an_empty_table(tmp_path):
    # two runs of a manifest without labels printed 'WA nan [nan, nan]', 'ΔWA +nan [+nan, +nan]' and a recall-per-class
    # table as 'Empty DataFrame / Columns: [] / Index: []'
    rows = [synthetic_row(f"u{k}", emotion="", pred="happy", scores=_onehot("happy")) for k in range(4)]
    a = write_run(tmp_path / "A", rows, [np.ones(4)] * 4, checksum="a" * 64)
    b = write_run(tmp_path / "B", rows, [np.ones(4)] * 4, checksum="a" * 64)
    text = compare_runs([a, b], n_boot=50).render()
    assert "Empty DataFrame" not in text and "nan [nan" not in text and "+nan" not in text
    assert "recall per class [raw]: none, no run scored an item" in text
    assert "A [raw]: no metrics: no item is scored" in text
    assert "(0 paired items): no ΔWA, ΔUAR or McNemar (no item is labelled in both" in text
    assert "None: no run scored an item" in compare_runs([a, b], n_boot=50).html()  # not an empty table


def test_a_per_class_recall_change_carries_its_exact_mcnemar_test_on_screen_in_json_and_on_the_page(tmp_path, capsys):
    """compare printed 'sad  recall A 0.750  recall B 1.000  Δ recall +0.250' for 8 items with no test: 2 items that
    the later run gets right (b = 0, c = 2) give an exact McNemar p of 0.5.  The p, its b / c and how to read a family of
    per-class p-values now stand beside every Δ recall (screen, comparison.json, report page)."""
    from scipy.stats import binomtest

    def rows(sad_right: int):
        out = []
        for k in range(8):
            out.append(synthetic_row(f"s{k}", emotion="sad", pred="sad" if k < sad_right else "neutral", speaker=f"p{k % 2}"))
            out.append(synthetic_row(f"h{k}", emotion="happy", pred="happy", speaker=f"p{k % 2}"))
        return out

    a = write_run(tmp_path / "A", rows(6), [[1.0, 0.0]] * 16)
    b = write_run(tmp_path / "B", rows(8), [[1.0, 0.0]] * 16)
    assert main(["compare", str(a.path), str(b.path), "--out", str(tmp_path / "cmp"), "--no-figures"]) == 0
    screen = capsys.readouterr().out
    doc = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    sad = next(r for r in doc["per_class"]["raw"] if r["class"] == "sad")
    assert sad["Δ recall B−A"] == pytest.approx(0.25) and sad["McNemar b / c B−A"] == "0 / 2"
    assert sad["p B−A"] == pytest.approx(binomtest(0, 2, 0.5).pvalue) == 0.5
    happy = next(r for r in doc["per_class"]["raw"] if r["class"] == "happy")
    assert happy["McNemar b / c B−A"] == "0 / 0" and happy["p B−A"] == 1.0
    line = next(x for x in screen.splitlines() if x.strip().startswith("sad "))
    assert "0.250" in line and "0 / 2" in line and "0.500" in line, line
    note = "p: exact McNemar of each class's paired items (b: right in the first run only, c: right in the later one only); 2 test(s)"
    assert note in screen
    cmp = compare_runs([a.path, b.path], n_boot=20)
    page = cmp.html()
    from html import escape

    assert "p B−A" in page and "0 / 2" in page and escape(note) in page


def test_an_items_score_figure_marks_each_runs_own_truth():
    """A head's run and its parent's: the item's true class is 'anger' in one and 'angry' in the other; the figure
    marked the first run's only, so the head's bars had no true class."""
    import matplotlib.pyplot as plt

    from workbench.analysis.compare.figures import plot_item_scores
    from workbench.schema import score_column

    row_a = {"pred": "sad", "emotion": "angry", score_column("angry"): 0.3, score_column("sad"): 0.7}
    row_b = {"pred": "anger", "emotion": "anger", score_column("anger"): 0.8, score_column("boredom"): 0.2}
    fig = plot_item_scores(row_a, row_b)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "[angry]" in ticks and "[anger]" in ticks and "boredom" in ticks
    plt.close(fig)


def test_a_heads_class_that_is_its_parents_under_another_name_is_one_score_column_in_the_distances(tmp_path):
    """A head's 'anger' on exactly its parent's 'angry' items is the same opinion: the score distances put them in one
    column. Over the plain union of names the same 0.8 for anger and angry counted twice: TVD 1.0 on every item,
    a figure about names, not opinions."""
    from workbench.schema import score_column

    rows_a, rows_b, emb = [], [], []
    rest = {k: 0.2 / (len(LABEL_KEYS) - 1) for k in LABEL_KEYS if k != "angry"}
    for n in range(6):
        rows_a.append(synthetic_row(f"i{n}", emotion="angry", pred="angry", scores={"angry": 0.8, **rest}))
        row = synthetic_row(f"i{n}", emotion="anger", pred="anger", scores=dict.fromkeys(LABEL_KEYS, 0.0))
        for k in LABEL_KEYS:
            row.pop(score_column(k), None)
        row.update({score_column("anger"): 0.8, score_column("boredom"): 0.2}, confidence=0.8)
        rows_b.append(row)
        emb.append(np.ones(4))
    cmp = compare_runs([write_run(tmp_path / "A", rows_a, emb), write_run(tmp_path / "B", rows_b, emb, checksum="b" * 64)], n_boot=20)
    # angry 0.8 against 0.8, the other eight 0.025 each against 0, boredom 0 against 0.2: TVD (0.2 + 0.2) / 2
    assert np.allclose(cmp.items["tvd"], 0.2) and np.allclose(cmp.items["max_abs_delta"], 0.2)
    assert cmp.agreement.iloc[0]["max_abs_delta_score"] == pytest.approx(0.2)


def test_distances_too_small_for_four_decimals_are_not_printed_as_zero(tmp_path):
    """Two precisions of one checkpoint (onnx-float32 against float32) differ by ~1e-7: compare printed "max |Δ score|
    0.0000" and a table of TVD 0.0000 under "the 84 of 84 paired items … that differ", which read as a contradiction."""
    rows_a, rows_b, emb = [], [], []
    for n, i in enumerate(["i0", "i1", "i2", "i3"]):
        scores = _onehot("happy")
        rows_a.append(synthetic_row(i, emotion="happy", pred="happy", scores=scores))
        moved = {**scores, "happy": scores["happy"] + 3e-8 * (n + 1), "sad": scores["sad"] - 3e-8 * (n + 1)}
        rows_b.append(synthetic_row(i, emotion="happy", pred="happy", scores=moved))
        emb.append(np.array([n + 1.0, 1, 0, 0]))
    a = write_run(tmp_path / "A", rows_a, emb, checksum="a" * 64)
    b = write_run(tmp_path / "B", rows_b, emb, checksum="a" * 64, dtype="bfloat16")
    text = compare_runs([a, b], n_boot=50).render()
    assert "max |Δ score| 1.2e-07" in text and "0.0000" not in text, text
    assert "4 of the 4 paired items per pair have other scores" in text and "1.2e-07" in text.split("total variation distance):")[1]
    page = compare_runs([a, b], n_boot=50).html()  # the report's tables: the agreement and the most different items
    agreement, items = page.split("<h3>Agreement</h3>")[1].split("<h3>Most different items")
    assert "<td>1.2e-07</td>" in agreement and "<td>0.000</td>" not in agreement, agreement
    assert "<td>1.2e-07</td>" in items and "<td>0.0000</td>" not in items, items


def test_the_most_different_table_heads_its_distance_in_words(tmp_path):
    """The page's most-different table headed its distance `tvd`, lowercase, beside "run A", "pred B", "max |Δ score|"."""
    a, b = hand_runs(tmp_path)
    page = compare_runs([a, b], n_boot=20).html()
    table = page.split("Most different items")[1]
    assert "<th>TVD of the score vectors</th>" in table and "<th>tvd</th>" not in table


def test_the_most_different_table_on_screen_heads_its_columns_in_words_and_the_files_keep_the_keys(tmp_path):
    """`compare A B` printed the most-different table under its raw keys (run_a, pred_b, tvd, max_abs_delta): a reader
    could not tell what tvd measured or which run pred_a was.  The screen and the page head them in words and say what
    the distances are; disagreements.csv and the agreement JSON keep the stable keys."""
    import json
    from workbench.analysis.compare.runs import ITEMS_CSV, write_runs_comparison

    a, b = hand_runs(tmp_path)
    cmp = compare_runs([a, b], n_boot=20)
    text = cmp.render()
    table = text.split("with the largest total variation distance):\n")[1]
    head = table.splitlines()[0]
    for words in ("run 1", "run 2", "item", "true label", "top-1 label, run 1", "top-1 label, run 2", "TVD of the score vectors",
                  "largest |Δ score|"):
        assert words in head, head
    assert not {"run_a", "pred_a", "pred_b", "tvd", "max_abs_delta", "emotion"} & set(head.split()), head
    assert "TVD: total variation distance between the two runs' score vectors" in table
    page = cmp.html().split("Most different items")[1]
    assert "<th>top-1 label, run 2</th>" in page and "total variation distance between the two runs" in page
    paths = write_runs_comparison(cmp, tmp_path / "cmp", figures=False)
    csv_head = (tmp_path / "cmp" / ITEMS_CSV).read_text().splitlines()[0].split(",")
    assert {"run_a", "run_b", "pred_a", "pred_b", "tvd", "max_abs_delta"} <= set(csv_head)
    assert {"run_a", "run_b", "max_tvd"} <= set(json.loads(paths["json"].read_text())["agreement"][0])


def test_the_probe_of_a_head_only_run_is_said_to_repeat_its_parents(tmp_path):
    """The checkpoint comparison page showed a head-only fine-tune's probe beside its parent's, the same numbers with no
    word why: the probe trains on frozen embeddings, and the head kept the parent's encoder (one encoder checksum)."""
    from IPython.display import HTML

    from workbench.analysis.compare.encoders import shared_encoder_note
    from workbench.views import reporting

    parent = "a" * 64
    head = tmp_path / "models" / "head"
    head.mkdir(parents=True)
    (head / "training_card.json").write_text(json.dumps({"parent": {"id": "parent", "path": str(tmp_path / "parent"), "checksum_sha256": parent},
                                                         "training": {"mode": "head", "unfreeze": 0}}))
    emb = [np.random.default_rng(k).standard_normal(4) for k in range(len(IDS))]
    rows = [synthetic_row(i, emotion=t, pred=p) for i, t, p in zip(IDS, TRUTH, PRED_A)]
    a = write_run(tmp_path / "A", rows, emb, model=str(tmp_path / "parent"), checksum=parent)
    b = write_run(tmp_path / "B", rows, emb, model=str(head), checksum="b" * 64)
    c = write_run(tmp_path / "C", rows, emb, checksum="c" * 64)  # another checkpoint: its own encoder
    cmp = compare_runs([a, b, c], n_boot=20)
    assert shared_encoder_note(cmp.runs, "A") == "" and shared_encoder_note(cmp.runs, "C") == ""
    note = shared_encoder_note(cmp.runs, "B")
    assert note.startswith(f"run B's encoder is run A's (encoder checksum {parent[:16]}") and "not run B's head" in note
    # the template's probe cell, as `workbench report checkpoint_comparison` runs it
    nb = json.loads((Path(reporting.__file__).parent.parent / "templates" / "checkpoint_comparison.ipynb").read_text())
    (cell,) = ["".join(c["source"]) for c in nb["cells"] if "R.probe_section" in "".join(c["source"])]
    shown = []
    scope = {"R": reporting, "cmp": cmp, "probe_scheme": "speaker", "probe_folds": 2, "probe_target": "emotion", "n_boot": 20,
             "HTML": HTML, "display": lambda h: shown.append(h.data)}
    exec(cell, scope)
    assert f"<h3>Probe on run B</h3><p><b>Note:</b> {reporting.esc(note)}.</p>" in shown[1]
    assert "Note:" not in shown[0] and "Note:" not in shown[2]


def test_every_run_pairs_score_distances_stay_visible_when_two_pairs_have_the_same_counts(tmp_path):
    """B and C score alike, so 'C vs A' and 'B vs A' had the same counts in every bin: overlaid, one pair's bars lay
    exactly under the other's and the legend named a colour the figure did not show (the walk's checkpoint page)."""
    rows = lambda pred: [synthetic_row(f"i{n}", emotion=("happy", "sad")[n % 2], pred=pred,  # noqa: E731
                                       scores=_onehot(pred, 0.5 + 0.05 * (n % 5))) for n in range(12)]
    emb = [np.ones(4)] * 12
    runs = [write_run(tmp_path / "A", rows("happy"), emb), write_run(tmp_path / "B", rows("sad"), emb, checksum="b" * 64),
            write_run(tmp_path / "C", rows("sad"), emb, checksum="c" * 64)]
    ax = plot_runs_comparison(compare_runs(runs, n_boot=20)).axes[1]
    drawn = {}
    for container, label in zip(ax.containers, ax.get_legend().get_texts()):
        drawn[label.get_text()] = {(round(p.get_x(), 6), round(p.get_width(), 6)) for p in container.patches if p.get_height() > 0}
    assert len(drawn) == 3 and all(drawn.values())
    names = list(drawn)
    for i, a in enumerate(names):  # no pair's bars drawn over another's
        for b in names[i + 1:]:
            assert not drawn[a] & drawn[b], (a, b)
