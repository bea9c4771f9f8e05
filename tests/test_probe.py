"""Probe protocols: folds that never share a speaker or session, known answers on synthetic embeddings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import speech_like

from workbench.cli import main
from workbench.data.corpora import import_emobox
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import write_manifest
from workbench.analysis.probe import assign_folds, probe_data, probe_run, session_of
from workbench.schema import split_key, split_role
from workbench.runs.writer import RunWriter
from workbench.runs.folder import RunFolder
from workbench.runs.driver import run

CLASSES = ["angry", "happy", "neutral", "sad"]


# ---------------------------------------------------------------------------
# a run folder written through RunFolder's writer, with embeddings we choose
# ---------------------------------------------------------------------------
def synthetic_row(item_id, *, emotion="", label=None, pred="neutral", scores=None, speaker="", split="", meta=None,
                  status="ok", variant="raw", sha=None, chain_hash="c0", start=None, duration=None) -> dict:
    scores = scores if scores is not None else {k: (0.6 if k == pred else 0.05) for k in LABEL_KEYS}
    ok = status == "ok"
    return {
        "id": item_id, "variant": variant, "path": f"{item_id}.wav", "label": emotion if label is None else label, "emotion": emotion,
        "text": "", "speaker": speaker, "gender": "", "split": split, "start": start, "duration": duration,
        "meta": json.dumps(meta or {}), "chain_hash": chain_hash, "status": status, "error": "" if ok else "could not decode",
        "pred": pred if ok else None, "confidence": float(max(scores.values())) if ok else None,
        **{f"score_{k}": (float(scores[k]) if ok else None) for k in LABEL_KEYS},
        "source_sha256": (sha or f"sha-{item_id}") if ok else None, "finding_codes": "",
    }


def write_run(path, rows, emb, *, model="synthetic", checksum=None, dtype="float32", random_weights=False, audio=None) -> RunFolder:
    """A finished run folder with exactly these rows and embeddings (None for a failed row); ``checksum`` by default that of
    the weights of ``model`` when it is a checkpoint folder (`finetune` checks that they scored the run), else zeros."""
    if checksum is None:
        from workbench.model.checkpoints import file_sha256, weights_file

        weights = weights_file(model) if Path(str(model)).is_dir() else None
        checksum = file_sha256(weights) if weights is not None else "0" * 64
    rf = RunFolder(path)
    config = {"manifest": "synthetic.csv", "model": model, "dtype": dtype, "device": "cpu",
              "variants": [{"name": v} for v in dict.fromkeys(r["variant"] for r in rows)], "audio": audio or {}, "frame_embeddings": False}
    info = {"id": model, "path": model, "checksum": checksum, "device": "cpu", "dtype": dtype, "random_weights": random_weights}
    w = RunWriter(rf)
    with w.lock():
        w.prepare(config, ("manifest", "model", "dtype"))
        w.write_part(rows, [None if e is None else np.asarray(e, np.float32) for e in emb])
        w.finalize(item_order={r["id"]: i for i, r in enumerate(rows)},
                    variant_order={v: i for i, v in enumerate(dict.fromkeys(r["variant"] for r in rows))},
                    summary=lambda res: {"rows": len(res), "model": info, "random_weights": random_weights})
    return rf


def probe_set(tmp_path, name, *, separable: bool, speakers=8, per_class=5, dim=16, seed=0, failed=0, unlabelled=0):
    """speakers × classes × per_class items; embeddings at the class centre (separable) or pure noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(CLASSES), dim)) * 6
    rows, emb = [], []
    for s in range(speakers):
        for c, cls in enumerate(CLASSES):
            for r in range(per_class):
                rows.append(synthetic_row(f"s{s}_{cls}_{r}", emotion=cls, speaker=f"spk{s}"))
                emb.append((centres[c] if separable else 0) + rng.standard_normal(dim))
    for i in range(failed):
        rows.append(synthetic_row(f"bad{i}", emotion="happy", speaker="spk0", status="failed"))
        emb.append(None)
    for i in range(unlabelled):
        rows.append(synthetic_row(f"calm{i}", emotion="", label="calm", speaker=f"spk{i % speakers}"))
        emb.append(rng.standard_normal(dim) + 20)
    return write_run(tmp_path / name, rows, emb)


# ---------------------------------------------------------------------------
# known answers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mlp", [False, True])
def test_separable_embeddings_give_uar_one_on_every_speaker_fold(tmp_path, mlp):
    rf = probe_set(tmp_path, "sep", separable=True, failed=2, unlabelled=3)
    res = probe_run(rf, scheme="speaker", folds=4, mlp=mlp, n_boot=200, out=tmp_path / "out")
    assert res.excluded == {"failed": ["bad0", "bad1"], "no emotion (label with no emotion2vec+ counterpart)": ["calm0", "calm1", "calm2"]}
    assert res.n_items == 160 and res.classes == CLASSES and len(res.folds) == 4
    for f in res.folds:
        assert (f["n_train"], f["n_test"], f["groups_on_both_sides"]) == (120, 40, 0)
        assert f["uar"] == 1.0 and f["wa"] == 1.0 and f["macro_f1"] == 1.0 and f["uar_ci"] == (1.0, 1.0)
    assert res.mean["uar"] == 1.0 and res.mean["uar_ci"] == (1.0, 1.0) and res.mean["n_folds"] == 4
    # every probed item is predicted exactly once, by a probe that never saw its speaker
    assert sorted(res.predictions["id"]) == sorted(rf.results().query("status == 'ok' and emotion != ''")["id"])
    written = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert written["mean_over_folds"]["uar"] == 1.0 and written["excluded"]["failed"]["count"] == 2
    folds_csv = pd.read_csv(tmp_path / "out" / "probe_folds.csv")
    assert list(folds_csv["fold"].astype(str)) == ["1", "2", "3", "4", "mean"]


def test_label_independent_embeddings_stay_at_chance(tmp_path):
    rf = probe_set(tmp_path, "noise", separable=False, per_class=6, seed=3)
    res = probe_run(rf, scheme="speaker", folds=4, n_boot=1000, seed=1)
    lo, hi = res.mean["uar_ci"]
    assert res.chance_uar == 0.25
    assert lo <= 0.25 <= hi, res.mean  # the interval of the mean over folds covers chance
    assert hi - lo < 0.3  # and it is an interval, not the whole range


def test_mean_over_folds_is_the_emobox_average_and_matches_sklearn(tmp_path):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    rf = probe_set(tmp_path, "noise", separable=False, seed=5)
    res = probe_run(rf, scheme="speaker", folds=4, n_boot=50)
    preds = res.predictions
    for f in res.folds:
        sub = preds[preds["fold"] == f["fold"]]
        assert f["wa"] == pytest.approx(accuracy_score(sub["target"], sub["pred"]))
        assert f["uar"] == pytest.approx(balanced_accuracy_score(sub["target"], sub["pred"]))
        assert f["macro_f1"] == pytest.approx(f1_score(sub["target"], sub["pred"], labels=CLASSES, average="macro"))
        assert f["uar_ci"][0] <= f["uar"] <= f["uar_ci"][1]
    for m in ("wa", "uar", "macro_f1"):
        assert res.mean[m] == pytest.approx(np.mean([f[m] for f in res.folds]))


# ---------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------
def test_speaker_folds_never_share_a_speaker_and_cover_every_item_once(tmp_path):
    rf = probe_set(tmp_path, "f", separable=False, speakers=7, per_class=2)
    rows = rf.results()
    spk = rows["speaker"].to_numpy()
    for k in (2, 3, 5, 7, 20):
        folds, excluded = assign_folds(rows, "speaker", k=k)
        assert len(folds) == min(k, 7) and not excluded
        tested = np.concatenate([f.test for f in folds])
        assert sorted(tested) == list(range(len(rows)))
        for f in folds:
            assert not set(spk[f.train]) & set(spk[f.test])
            assert len(f.train) + len(f.test) == len(rows)


def test_session_folds_are_leave_one_session_out(tmp_path):
    rows, emb = [], []
    rng = np.random.default_rng(0)
    for s in range(1, 6):
        for g in "FM":
            for i, cls in enumerate(CLASSES * 2):
                # IEMOCAP ids; the session comes from the split (as the loader writes it) or, for half of them, the id alone
                item_id = f"Ses0{s}{g}_impro01_{g}{i:03d}"
                rows.append(synthetic_row(item_id, emotion=cls, speaker=f"Ses0{s}{g}", split=f"Session{s}" if i % 2 else ""))
                emb.append(rng.standard_normal(8))
    rf = write_run(tmp_path / "iemocap", rows, emb)
    res_rows = rf.results()
    folds, excluded = assign_folds(res_rows, "session")
    assert [f.name for f in folds] == [f"Session{s}" for s in range(1, 6)] and not excluded
    sessions = np.array([session_of(i, sp) for i, sp in zip(res_rows["id"], res_rows["split"])])
    spk = res_rows["speaker"].to_numpy()
    for f in folds:
        assert set(sessions[f.test]) == {f.name} and f.name not in set(sessions[f.train])
        assert not set(spk[f.train]) & set(spk[f.test])
    res = probe_run(rf, scheme="session", n_boot=50)
    assert [f["fold"] for f in res.folds] == [f"Session{s}" for s in range(1, 6)]
    assert all(f["n_test"] == 16 and f["groups_on_both_sides"] == 0 for f in res.folds)
    assert session_of("x", "", json.dumps({"session": "S7"})) == "S7" and session_of("abc", "train") == ""


def test_emobox_folds_follow_the_imported_fold_files(tmp_path, tiny_model):
    """A real `datasets import-emobox` manifest, run with the tiny model, probed under its own folds."""
    audio = tmp_path / "downloads" / "demo"
    audio.mkdir(parents=True)
    recs = []
    for i in range(16):
        sf.write(audio / f"u{i:02d}.wav", speech_like(16000, 0.8, seed=i), 16000, subtype="PCM_16")
        recs.append({"key": f"u{i:02d}", "dataset": "demo", "wav": f"downloads/demo/u{i:02d}.wav", "emo": ["ang", "hap", "neu", "sad"][i % 4],
                     "length": 0.8, "sample_rate": 16000, "channel": 1})
    # speakers = i // 4; fold 1 tests speakers 0-1, fold 2 tests speakers 2-3
    meta = tmp_path / "data"
    meta.mkdir()
    files = []
    for fold, test_spk in (("1", {0, 1}), ("2", {2, 3})):
        for split in ("train", "test"):
            p = meta / f"demo_{split}_fold_{fold}.jsonl"
            p.write_text("".join(json.dumps(r) + "\n" for i, r in enumerate(recs) if ((i // 4) in test_spk) == (split == "test")))
            files.append(p)
    m = import_emobox(files, root=tmp_path, label_map=None)
    assert all(it.meta["folds"] for it in m.items)
    for it in m.items:
        it.path = str(m.resolve(it))
    manifest = write_manifest(m, tmp_path / "emobox.csv")
    run(manifest, out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache")
    rf = RunFolder.open(tmp_path / "run")
    data = probe_data(rf, target="label")
    folds, excluded = assign_folds(data.rows, "emobox")
    assert [f.name for f in folds] == ["1", "2"] and not excluded
    ids = data.rows["id"].to_numpy()
    assert sorted(ids[folds[0].test]) == [f"u{i:02d}" for i in range(8)] and sorted(ids[folds[0].train]) == [f"u{i:02d}" for i in range(8, 16)]
    assert sorted(ids[folds[1].test]) == [f"u{i:02d}" for i in range(8, 16)]
    res = probe_run(rf, scheme="emobox", target="label", n_boot=50)
    assert [f["n_test"] for f in res.folds] == [8, 8] and res.classes == ["ang", "hap", "neu", "sad"]
    assert res.random_weights
    with pytest.raises(ConfigError, match="carry no EmoBox folds"):
        probe_run(probe_set(tmp_path, "plain", separable=True, speakers=2, per_class=1), scheme="emobox")


def test_split_folds_and_the_label_target_reach_classes_the_head_lacks(tmp_path):
    rng = np.random.default_rng(2)
    rows, emb = [], []
    # EmoDB-like: boredom has no emotion2vec+ counterpart (emotion ""), but the corpus label keeps it
    labels = [("angry", "angry"), ("happy", "happy"), ("boredom", "")]
    for i in range(60):
        lab, emo = labels[i % 3]
        rows.append(synthetic_row(f"e{i:02d}", emotion=emo, label=lab, speaker=f"s{i % 6}", split="test" if i >= 45 else ("train" if i < 40 else "dev")))
        emb.append(np.eye(3)[i % 3] * 8 + rng.standard_normal(3) * 0.1)
    rf = write_run(tmp_path / "emodb", rows, emb)
    by_emotion = probe_run(rf, scheme="split", n_boot=50)
    assert by_emotion.classes == ["angry", "happy"] and len(by_emotion.excluded["no emotion (label with no emotion2vec+ counterpart)"]) == 20
    res = probe_run(rf, scheme="split", target="label", n_boot=50)
    assert res.classes == ["angry", "boredom", "happy"] and res.folds[0]["n_train"] == 40 and res.folds[0]["n_test"] == 15
    assert res.excluded == {"a dev split (held out: the probe trains on train, tests on test)": [f"e{i:02d}" for i in range(40, 45)]}
    assert res.folds[0]["uar"] == 1.0 and "boredom" in set(res.predictions["pred"])


def test_split_folds_read_msp_podcasts_partitions_and_keep_each_test_set_apart(tmp_path):
    """MSP-Podcast's Split_Set as written (Train, Development, Test1, Test2): it found 0 test items before; now the train
    items are tested on each test set alone, Development is held out and counted, an unknown partition left out."""
    rng = np.random.default_rng(3)
    parts = ["Train"] * 24 + ["Development"] * 4 + ["Test1"] * 8 + ["Test2"] * 6 + ["Session1"] * 2
    rows, emb = [], []
    for i, part in enumerate(parts):
        rows.append(synthetic_row(f"m{i:02d}", emotion=CLASSES[i % 2], speaker=f"s{i % 5}", split=part))
        emb.append(np.eye(2)[i % 2] * 8 + rng.standard_normal(2) * 0.1)
    rf = write_run(tmp_path / "msp", rows, emb)
    folds, excluded = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.train), len(f.test)) for f in folds] == [("Test1", 24, 8), ("Test2", 24, 6)]
    assert excluded == {"a dev split (held out: the probe trains on train, tests on test)": [f"m{i:02d}" for i in range(24, 28)],
                        "a split that is neither train, dev nor test (['Session1'])": ["m42", "m43"]}
    res = probe_run(rf, scheme="split", n_boot=20)
    assert [f["fold"] for f in res.folds] == ["Test1", "Test2"] and [f["n_test"] for f in res.folds] == [8, 6]
    only_dev = write_run(tmp_path / "dev", [synthetic_row(f"d{i}", emotion=CLASSES[i % 2], split=p) for i, p in
                                           enumerate(["Train"] * 4 + ["Development"] * 2)], [np.ones(2) * i for i in range(6)])
    with pytest.raises(ConfigError, match=r"4 train and 0 test items; both are needed \(its values: \['Development', 'Train'\]\)"):
        probe_run(only_dev, scheme="split")


def test_finetune_on_the_split_scheme_reports_each_msp_test_set_alone(tmp_path):
    """finetune --scheme split pools its folds' test items; with several test sets (Test1, Test2) each is reported
    alone too, on its own items (they were pooled only)."""
    from workbench.analysis.finetune.data import tune_data
    from workbench.analysis.finetune.evaluate import evaluate_finetune

    rng = np.random.default_rng(4)
    parts = ["Train"] * 20 + ["Development"] * 4 + ["Test1"] * 8 + ["Test2"] * 6
    rows = [synthetic_row(f"m{i:02d}", emotion=CLASSES[i % 2], speaker=f"s{i % 5}", split=p) for i, p in enumerate(parts)]
    data = tune_data(write_run(tmp_path / "msp", rows, [rng.standard_normal(3) for _ in rows]))
    wrong_on_test2 = lambda tr, va, te: np.where(data.rows["split"].to_numpy()[te] == "Test2", "happy", data.y[te])  # noqa: E731
    ev = evaluate_finetune(data, scheme="split", n_boot=20, procedure=wrong_on_test2)
    assert ev["n_folds"] == 2 and ev["finetuned"]["n"] == 14
    assert {k: (d["n"], d["wa"]) for k, d in ev["per_test_set"].items()} == {"Test1": (8, 1.0), "Test2": (6, 0.5)}


def test_one_numbered_test_set_spelled_two_ways_is_one_fold_named_as_first_written(tmp_path):
    """A split column with "Test1" and "Test 1" (or test_1, TEST1) made two folds of MSP-Podcast's one Test1 set: the
    probe and finetune each grouped by the raw value.  Now one fold holds every spelling, named by the first seen."""
    from workbench.analysis.finetune.data import tune_data
    from workbench.analysis.finetune.evaluate import evaluate_finetune

    assert {split_key(v) for v in ("Test1", "Test 1", "test_1", "TEST1", " test1 ")} == {"test1"}
    assert split_key("Test2") != split_key("Test1") != split_key("Test")  # different sets stay apart
    rng = np.random.default_rng(5)
    parts = ["Train"] * 20 + ["Test1", "Test 1", "test_1", "TEST1"] * 2 + ["Test2"] * 6
    rows = [synthetic_row(f"m{i:02d}", emotion=CLASSES[i % 2], speaker=f"s{i % 5}", split=p) for i, p in enumerate(parts)]
    rf = write_run(tmp_path / "msp", rows, [np.eye(2)[i % 2] * 8 + rng.standard_normal(2) * 0.1 for i in range(len(rows))])
    folds, _ = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.train), len(f.test)) for f in folds] == [("Test1", 20, 8), ("Test2", 20, 6)]
    data = tune_data(rf)
    ev = evaluate_finetune(data, scheme="split", n_boot=20, procedure=lambda tr, va, te: data.y[te])
    assert ev["n_folds"] == 2 and {k: d["n"] for k, d in ev["per_test_set"].items()} == {"Test1": 8, "Test2": 6}


def test_numbered_test_sets_come_in_their_numbers_order(tmp_path):
    """Sorted as text, Test10 came before Test2."""
    rng = np.random.default_rng(6)
    parts = ["Train"] * 12 + ["Test10"] * 4 + ["Test2"] * 4 + ["Test1"] * 4
    rows = [synthetic_row(f"n{i:02d}", emotion=CLASSES[i % 2], speaker=f"s{i % 3}", split=p) for i, p in enumerate(parts)]
    rf = write_run(tmp_path / "ten", rows, [np.eye(2)[i % 2] * 8 + rng.standard_normal(2) * 0.1 for i in range(len(rows))])
    folds, _ = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [f.name for f in folds] == ["Test1", "Test2", "Test10"]


def test_probe_errors_name_the_fix(tmp_path):
    rf = write_run(tmp_path / "one", [synthetic_row(f"a{i}", emotion=CLASSES[i % 2], speaker="only") for i in range(6)],
                   [np.ones(4) * i for i in range(6)])
    with pytest.raises(ConfigError, match="at least two speakers"):
        probe_run(rf, scheme="speaker")
    with pytest.raises(ConfigError, match="no item has a session"):
        probe_run(rf, scheme="session")
    with pytest.raises(ConfigError, match="0 train and 0 test"):
        probe_run(rf, scheme="split")
    with pytest.raises(ConfigError, match="unknown probe target"):
        probe_run(rf, target="valence")
    with pytest.raises(ConfigError, match="inside the run folder"):
        probe_run(rf, out=tmp_path / "one" / "probe")


def test_probe_command(tmp_path, capsys):
    rf = probe_set(tmp_path, "sep", separable=True, speakers=4, per_class=3)
    out = tmp_path / "probe_out"
    assert main(["probe", str(rf.path), "--folds", "4", "--bootstrap", "100", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "speaker folds" in text and "mean" in text and "1.000 [1.000, 1.000]" in text
    assert {p.name for p in out.iterdir()} == {"probe.json", "probe_folds.csv", "probe_items.csv"}
    assert main(["probe", str(rf.path), "--scheme", "emobox"]) == 2
    assert "EmoBox folds" in capsys.readouterr().err


def test_the_old_keywords_still_read_with_a_warning_and_a_bad_count_is_refused(tmp_path):
    rf = probe_set(tmp_path, "speaker", separable=True)
    new = probe_run(rf, scheme="speaker", folds=3, n_boot=20)
    with pytest.warns(DeprecationWarning, match="scheme='speaker'"), pytest.warns(DeprecationWarning, match="folds=3"):
        old = probe_run(rf, folds="speaker", k=3, n_boot=20)
    assert old.table().equals(new.table())
    with pytest.raises(ConfigError, match="folds must be a whole number"):
        probe_run(rf, folds=1)


def test_a_split_value_with_a_look_alike_letter_is_named_so_that_it_can_be_told_apart(tmp_path):
    """'Тest1' with a Cyrillic 'Т' is no test set: its rows were left out as "a split that is neither train, dev nor test"
    without naming the value, and the refusal listed ['Train', 'Тest1'], which reads as if Test1 were there."""
    rows = [synthetic_row(f"c{i}", emotion=CLASSES[i % 2], split=p)
            for i, p in enumerate(["Train"] * 4 + ["Test1"] * 4 + ["\u0422est1"] * 2 + [""] * 2)]
    rf = write_run(tmp_path / "cyr", rows, [np.eye(2)[i % 2] * 8 for i in range(len(rows))])
    folds, excluded = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.test)) for f in folds] == [("Test1", 4)]  # named by its test set (one set or several)
    assert excluded == {"a split that is neither train, dev nor test (['', '\\u0422est1'])": ["c8", "c9", "c10", "c11"]}
    only = write_run(tmp_path / "only", [synthetic_row(f"d{i}", emotion=CLASSES[i % 2], split=p)
                                         for i, p in enumerate(["Train"] * 4 + ["\u0422est1"] * 2)], [np.ones(2) * i for i in range(6)])
    with pytest.raises(ConfigError, match=re.escape(r"(its values: ['Train', '\u0422est1'])")):
        probe_run(only, scheme="split", n_boot=20)


def test_esds_evaluation_folder_is_its_validation_set_and_evaluation_elsewhere_has_no_role(tmp_path):
    """ESD ships train / evaluation / test folders (300 / 20 / 30 utterances per speaker and emotion); its `evaluation`
    had no role, so `--scheme split` listed it as 'neither train, dev nor test' beside IEMOCAP's sessions.  It is ESD's
    validation set: role dev, held out and counted as MSP-Podcast's Development is.  The same name from another source
    keeps no role (Hugging Face's folder convention reads `evaluation` as a test set)."""
    from workbench.data.corpora import esd

    root = tmp_path / "esd"
    for k, part in enumerate(["train"] * 6 + ["evaluation"] * 2 + ["test"] * 4):
        path = root / "0011" / ("Angry" if k % 2 else "Neutral") / part / f"0011_{k + 1:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, speech_like(dur=0.2), 16000)
    m = esd.prepare(root)
    rows = [synthetic_row(it.id, emotion=it.emotion, speaker=it.speaker, split=it.split, meta=it.meta) for it in m]
    rows += [synthetic_row(f"hf{i}", emotion=CLASSES[i % 2], split="evaluation", meta={"source": "hf"}) for i in range(2)]
    rf = write_run(tmp_path / "run", rows, [np.eye(2)[i % 2] * 8 for i in range(len(rows))])
    folds, excluded = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.train), len(f.test)) for f in folds] == [("test", 6, 4)]
    assert {k: sorted(v) for k, v in excluded.items()} == {
                        "a dev split (held out: the probe trains on train, tests on test)": ["0011_000007", "0011_000008"],
                        "a split that is neither train, dev nor test (['evaluation'])": ["hf0", "hf1"]}
    roles = {it.id: (split_role(it.split, it.meta["corpus"]), it.split) for it in m}
    assert [roles[f"0011_{k:06d}"] for k in (6, 7, 8, 9)] == [("train", "train"), ("dev", "evaluation"), ("dev", "evaluation"),
                                                              ("test", "test")]
    assert "evaluation 2 (held out: the validation set, role dev)" in " ".join(m.notes)
    assert split_role("Evaluation", "ESD") == "dev" and split_role("evaluation", "msp-podcast") == ""


def test_a_test_set_number_written_with_a_leading_zero_or_a_full_width_digit_is_the_same_set(tmp_path):
    """'Test01' and 'Test１' (a full-width digit, as an East Asian keyboard types it) are test sets by their role, but
    were keyed by their text: each became a fold of its own, and 'Test１' printed beside 'Test1' as if twice the same."""
    rows = [synthetic_row(f"n{i}", emotion=CLASSES[i % 2], split=p)
            for i, p in enumerate(["Train"] * 4 + ["Test1"] * 2 + ["Test01"] * 2 + ["Test\uff11"] * 2 + ["Test2"] * 2)]
    rf = write_run(tmp_path / "num", rows, [np.eye(2)[i % 2] * 8 for i in range(len(rows))])
    folds, _ = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.test)) for f in folds] == [("Test1", 6), ("Test2", 2)]
    assert split_key("Test" + "9" * 5000) == "test" + "9" * 5000 and split_key("Test00") == "test0"  # past int()'s 4,300 digits


def test_a_test_set_number_after_a_hyphen_or_an_underscore_and_a_space_is_the_same_set(tmp_path):
    """'test-1' and 'Test_ 1' had no role (listed as left out of every fold) while 'Test1', 'Test 1' and 'test_1' were
    one test set: the separator between the word and the number was read as spaces then at most one underscore."""
    assert {split_key(v) for v in ("Test1", "test-1", "Test_ 1", "TEST - 01", "test_1")} == {"test1"}
    assert split_role("test-1") == split_role("Test_ 1") == "test" and split_key("test-2") == "test2"
    rows = [synthetic_row(f"h{i}", emotion=CLASSES[i % 2], split=p)
            for i, p in enumerate(["Train"] * 4 + ["Test1"] * 2 + ["test-1"] * 2 + ["Test_ 1"] * 2 + ["Test-2"] * 2)]
    rf = write_run(tmp_path / "hyphen", rows, [np.eye(2)[i % 2] * 8 for i in range(len(rows))])
    folds, left_out = assign_folds(rf.results().query("variant == 'raw'").reset_index(drop=True), "split")
    assert [(f.name, len(f.train), len(f.test)) for f in folds] == [("Test1", 4, 6), ("Test-2", 4, 2)]
    assert left_out == {}, left_out  # no row "left out": every spelling has its role


def test_a_fold_or_mean_uar_whose_interval_reaches_chance_is_flagged_as_metrics_flags_it(tmp_path):
    """probe printed fold 4's 'UAR 0.188 [0.000, 0.250]' (chance 0.250) with no word; metrics flags such a UAR."""
    noise = probe_run(probe_set(tmp_path, "noise", separable=False, per_class=6, seed=3), scheme="speaker", folds=4, n_boot=200, seed=1)
    text = noise.render()
    for f in noise.folds + [{"fold": "mean", **noise.mean}]:
        lo, hi = f["uar_ci"]
        where = "the mean over folds" if f["fold"] == "mean" else f"fold {f['fold']}"
        flagged = f"    !! {where}: UAR {f['uar']:.3f} [{lo:.3f}, {hi:.3f}] " in text
        assert flagged == (lo <= noise.chance_uar), (f, text)
    assert "!! the mean over folds: UAR" in text and "AT CHANCE" in text  # label-free embeddings: the mean reaches chance
    clean = probe_run(probe_set(tmp_path, "clean", separable=True, per_class=6), scheme="speaker", folds=4, n_boot=200, seed=1)
    assert "CHANCE" not in clean.render() and "CHANCE" not in clean.html()


def test_a_run_with_too_few_classes_is_refused_in_words(tmp_path):
    # an unlabelled run was refused with 'the rows with a emotion have []'
    none = write_run(tmp_path / "none", [synthetic_row(f"u{i}") for i in range(4)], [np.ones(3)] * 4)
    with pytest.raises(ConfigError, match="at least two classes; no row has a 'emotion' value"):
        probe_data(none)
    one = write_run(tmp_path / "one", [synthetic_row(f"h{i}", emotion="happy") for i in range(4)], [np.ones(3)] * 4)
    with pytest.raises(ConfigError, match="at least two classes; every row with a 'emotion' value has 'happy'"):
        probe_data(one)


def test_a_probe_intervals_checks_reach_the_screen_probe_json_and_the_report_page_alike(tmp_path, capsys):
    """probe printed 'UAR 1.000 [1.000, 1.000]' for a fold of 8 test items with no word (metrics flags a zero-width
    interval and one from fewer than 20 items), and the mean over folds' 'AT CHANCE' reached the screen only: probe.json's
    fold_notes and the report's page listed the folds' notes, not the mean's."""
    clean = probe_set(tmp_path, "clean", separable=True, speakers=4, per_class=2)
    assert main(["probe", str(clean.path), "--folds", "4", "--bootstrap", "50", "--out", str(tmp_path / "p"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all(f["uar_ci"] == [1.0, 1.0] and f["n_test"] == 8 for f in doc["folds"]) and doc["mean_over_folds"]["uar_ci"] == [1.0, 1.0]
    res = probe_run(clean, folds=4, n_boot=50)
    surfaces = {"json": " ".join(doc["fold_notes"]), "screen": res.render(), "page": " ".join(_page_notes(res.html(in_report=True)))}
    for where, text in surfaces.items():
        for f in doc["folds"]:
            assert f"fold {f['fold']}: UAR 1.000: zero-width interval [1.000, 1.000] from 8 item(s)" in text, where
            assert f"fold {f['fold']}: intervals from only 8 item(s) (&lt; 20" in text if where == "page" else \
                f"fold {f['fold']}: intervals from only 8 item(s) (< 20" in text, where
        assert "the mean over folds: UAR 1.000: zero-width interval [1.000, 1.000] from 32 item(s)" in text, where
    noise = probe_run(probe_set(tmp_path, "noise", separable=False, per_class=6, seed=3), scheme="speaker", folds=4, n_boot=200, seed=1)
    for text in (" ".join(noise.to_dict()["fold_notes"]), " ".join(_page_notes(noise.html())), noise.render()):
        assert "the mean over folds: UAR" in text and "AT CHANCE" in text
    page = noise.html()  # one flagged heading with the count, the notes grouped under their fold (not a bold line each)
    assert f"⚠ {len(noise.notes())} check(s) of the figures above flagged" in page and page.count("<b>⚠") <= 2
    # a note flagged alike in every fold is listed once, under all of them (the page repeated it for each fold)
    page = res.html(in_report=True)
    assert page.count("intervals from only 8 item(s)") == 1 and "<b>fold 1, fold 2, fold 3 and fold 4</b>" in page


def _page_notes(html: str) -> list[str]:
    """The page's grouped notes read back as 'fold 1: what' lines."""
    import re

    return [f"{where}: {what}" for wheres, inner in re.findall(r"<li><b>(.*?)</b><ul>(.*?)</ul></li>", html)
            for where in re.split(r", | and ", wheres) for what in re.findall(r"<li>(.*?)</li>", inner)]
