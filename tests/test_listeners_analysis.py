"""Metrics against listeners, on hand-built results tables with planted judgements."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from workbench.analysis import listeners as A
from workbench.data.listeners import record_from_counts
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS


def _row(i, emotion, scores: dict, votes: dict | None, variant="raw"):
    s = np.full(9, 1e-3)
    for k, v in scores.items():
        s[LABEL_KEYS.index(k)] = v
    s = s / s.sum()
    pred = LABEL_KEYS[int(np.argmax(s))]
    meta = record_from_counts(votes) if votes is not None else {}
    return {"id": f"u{i:03d}", "variant": variant, "status": "ok", "emotion": emotion, "pred": pred, "confidence": float(s.max()),
            "path": f"u{i}.wav", "meta": json.dumps(meta), **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, s)}}


def _table():
    rows = []
    # 20 clear items (all 10 raters agree), model right on 16, confidently wrong on 4
    for i in range(20):
        emo = ["angry", "sad"][i % 2]
        other = "sad" if emo == "angry" else "angry"
        wrong = i < 4
        rows.append(_row(i, emo, {other if wrong else emo: 0.9 - 0.01 * i}, {emo: 10}))
    # 10 split items (4 / 3 / 3): the model always wrong against the corpus label
    for i in range(20, 30):
        rows.append(_row(i, "angry", {"neutral": 0.6}, {"angry": 4, "sad": 3, "neutral": 3}))
    # one item without listener figures
    rows.append(_row(99, "angry", {"angry": 0.9}, None))
    return pd.DataFrame(rows)


def test_bands_lists_and_counts():
    rep = A.evaluate_listeners(_table(), n_boot=100)
    assert rep.n_items == 30 and rep.n_without == 1
    low, mid, high = rep.bands
    assert (low["n"], mid["n"], high["n"]) == (10, 0, 20)
    assert low["accuracy"] == 0.0 and high["accuracy"] == pytest.approx(16 / 20)
    assert high["accuracy_ci"][0] <= 0.8 <= high["accuracy_ci"][1]
    # listeners agree, model wrong: exactly the four planted items, most confident first
    wrong = rep.listeners_agree_model_wrong
    assert [r["id"] for r in wrong] == ["u000", "u001", "u002", "u003"]
    assert [r["id"] for r in rep.listeners_split] == [f"u{i:03d}" for i in range(20, 30)]
    assert rep.listeners_split[0]["agreement"] == pytest.approx(0.4)


@pytest.mark.parametrize("top", [3, 50])
def test_the_split_list_prints_its_rows_like_the_agree_wrong_list(top):
    rep = A.evaluate_listeners(_table(), n_boot=50)
    text = rep.render(top=top)
    lines = text.splitlines()
    for ids, total in (([r["id"] for r in rep.listeners_split], rep.n_split),
                       ([r["id"] for r in rep.listeners_agree_model_wrong], rep.n_agree_model_wrong)):
        shown = min(top, total)
        assert sum(any(ln.startswith(f"    {i}: ") for ln in lines) for i in ids) == shown
        assert (f"(showing {shown} of {total})" in text) == (shown < total)
    split_head = next(k for k, ln in enumerate(lines) if ln.startswith("  listeners split"))
    assert lines[split_head + 1].startswith(f"    {rep.listeners_split[0]['id']}: ")  # the rows under their own heading


def test_js_divergence_and_cross_entropy_against_scipy_and_by_hand():
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import entropy

    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    q = np.array([[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]])
    m = (p[0] + q[0]) / 2
    by_hand = 0.5 * entropy(p[0], m, base=2) + 0.5 * entropy(q[0], m, base=2)
    got = A.js_divergence(p, q)
    assert got[0] == pytest.approx(by_hand) and got[0] == pytest.approx(jensenshannon(p[0], q[0], base=2) ** 2)
    assert got[1] == pytest.approx(0.0, abs=1e-12)
    assert A.cross_entropy(p[:1], q[:1])[0] == pytest.approx(-(p[0] * np.log(q[0])).sum())


def test_divergence_of_a_run_uses_the_vote_distribution_and_restricts_when_asked():
    df = pd.DataFrame([_row(0, "angry", {"angry": 0.5, "other": 0.3, "sad": 0.2}, {"angry": 6, "sad": 4})])
    full = A.evaluate_listeners(df, n_boot=50)
    scores = df[[f"score_{k}" for k in LABEL_KEYS]].to_numpy(float)[0]
    votes = np.zeros(9)
    votes[LABEL_KEYS.index("angry")], votes[LABEL_KEYS.index("sad")] = 0.6, 0.4
    assert full.jsd_mean == pytest.approx(A.js_divergence(votes[None], scores[None])[0])
    restricted = A.evaluate_listeners(df, restrict=True, n_boot=50)
    assert restricted.classes == ["angry"]
    # over the corpus's single class both distributions are [1]: nothing to diverge
    assert restricted.jsd_mean == pytest.approx(0.0, abs=1e-12)


def test_vote_weighted_confusion_beside_the_hard_one():
    df = pd.DataFrame([
        _row(0, "angry", {"angry": 0.9}, {"angry": 3, "sad": 1}),
        _row(1, "angry", {"sad": 0.9}, {"angry": 1, "sad": 1}),
    ])
    rep = A.evaluate_listeners(df, n_boot=50)
    assert rep.confusion_rows == ["angry", "sad"] and rep.confusion_cols == ["angry", "sad"]
    assert rep.confusion_hard == [[1, 1]]
    np.testing.assert_allclose(rep.confusion_votes, [[0.75, 0.5], [0.25, 0.5]])


def test_confidence_agreement_correlation_with_interval():
    rows = []
    for i in range(30):
        n_agree = 6 + (i % 5)  # agreement 0.6 … 1.0, rising with the confidence
        rows.append(_row(i, "angry", {"angry": 0.3 + 0.1 * (i % 5)}, {"angry": n_agree, "sad": 10 - n_agree}))
    rep = A.evaluate_listeners(pd.DataFrame(rows), n_boot=100)
    assert rep.spearman_confidence_agreement == pytest.approx(1.0)
    assert rep.spearman_ci[0] > 0.9


def test_arguments_are_checked():
    df = _table()
    with pytest.raises(ConfigError, match="variant 'loud'.*\\['raw'\\]"):
        A.evaluate_listeners(df, variant="loud")
    with pytest.raises(ConfigError, match="bands"):
        A.evaluate_listeners(df, bands=(0.8, 0.5))
    with pytest.raises(ConfigError, match="agree=1.5"):
        A.evaluate_listeners(df, agree=1.5)


def test_spearman_equals_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200).astype(float)  # many ties
    b = a + rng.normal(0, 2, 200)
    assert A._spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(A._spearman(np.ones(5), b[:5]))


def test_an_id_or_a_label_with_a_line_break_prints_on_its_own_row():
    """A run folder from before ids were checked (or edited by hand) can hold an id with a line break or an escape
    sequence: printed as it was, "u000\\nerror: forged" started a line of its own under the terminal guard."""
    table = _table()
    table.loc[0, "id"] = "u000\nerror: forged\x1b[2J"
    table.loc[20, "emotion"] = "angry\u202eyrgna"
    text = A.evaluate_listeners(table, n_boot=50).render(top=50)
    assert not any(line.startswith("error: forged") for line in text.splitlines()), text
    assert "    u000\\nerror: forged\\x1b[2J: listeners" in text and "corpus angry\\u202eyrgna," in text, text
    assert not any(ch in text for ch in "\x1b\u202e"), repr(text)


def test_a_head_with_its_own_classes_is_not_listed_wrong_where_listeners_used_a_class_it_lacks():
    # a fine-tuned head (hot, low) on a corpus whose listeners voted over the nine classes (angry, sad): the model cannot
    # name the listeners' majority, so "listeners agree, model wrong" listed every clear item, right or wrong against
    # the corpus label, beside a band accuracy of 0.75 on the same items
    rows = []
    for i in range(20):
        emo, heard = (("hot", "angry"), ("low", "sad"))[i % 2]
        pred = emo if i >= 5 else ("low" if emo == "hot" else "hot")
        conf = 0.8 - 0.01 * i
        rows.append({"id": f"u{i:03d}", "variant": "raw", "status": "ok", "emotion": emo, "pred": pred, "confidence": conf,
                     "path": f"u{i}.wav", "meta": json.dumps(record_from_counts({heard: 10})),
                     "score_hot": conf if pred == "hot" else 1 - conf, "score_low": conf if pred == "low" else 1 - conf})
    rep = A.evaluate_listeners(pd.DataFrame(rows), n_boot=50)
    assert rep.bands[-1]["n"] == 20 and rep.bands[-1]["accuracy"] == pytest.approx(0.75)
    assert rep.n_agree_model_wrong == 0 and rep.listeners_agree_model_wrong == []
    text = rep.render()
    assert "model wrong: 0 items" in text
    # the soft-label figures are n/a because no class is shared, not because votes are missing ("carries votes for every class")
    assert rep.soft_labels_reason.startswith("the model's classes (hot, low) share none with the classes listeners voted over")
    assert any("20 items whose listener majority is not one of the model's classes (angry 10, sad 10)" in n for n in rep.notes)


def test_votes_over_a_heads_own_classes_are_compared_over_them_and_votes_beyond_them_are_counted():
    # votes imported onto a head's classes (import-votes --model): votes_calm, votes_tense, and one class the head
    # lacks (votes_bored, from an older import); listener_frame read only the nine vote columns, so the head's run had
    # "no vote distribution to compare with"
    rows = []
    for i in range(6):
        calm = 0.2 + 0.1 * i
        votes = {"calm": 3.0, "tense": 1.0} if i % 2 else {"calm": 1.0, "tense": 2.0, "bored": 1.0}
        meta = record_from_counts(votes, classes=["calm", "tense", "bored"]) if "bored" in votes else \
            record_from_counts(votes, classes=["calm", "tense"])
        rows.append({"id": f"u{i}", "variant": "raw", "status": "ok", "emotion": ["calm", "tense"][i % 2],
                     "pred": "calm" if calm > 0.5 else "tense", "confidence": max(calm, 1 - calm), "path": f"u{i}.wav",
                     "meta": json.dumps(meta), "score_calm": calm, "score_tense": 1 - calm})
    table = pd.DataFrame(rows)
    rep = A.evaluate_listeners(table, n_boot=0)
    assert rep.soft_labels_reason == "" and rep.n_distribution == 6
    # by hand: votes calm 1, tense 2 (bored left out, renormalised: 1/3, 2/3) or calm 3, tense 1; scores calm 0.2 + 0.1 i
    v = np.array([[1 / 3, 2 / 3] if i % 2 == 0 else [0.75, 0.25] for i in range(6)])
    p = np.array([[0.2 + 0.1 * i, 0.8 - 0.1 * i] for i in range(6)])
    m = (v + p) / 2
    jsd = 0.5 * (v * np.log2(v / m)).sum(axis=1) + 0.5 * (p * np.log2(p / m)).sum(axis=1)
    assert rep.jsd_mean == pytest.approx(jsd.mean())
    assert rep.cross_entropy_mean == pytest.approx(-(v * np.log(p)).sum(axis=1).mean())
    assert rep.confusion_rows == ["calm", "tense", "bored"]
    assert "3 votes for classes the divergences do not compare over (bored 3) are left out of them (each item's votes " \
           "renormalised over calm, tense)" in rep.notes


def _mixed_rows():
    """A head (calm, tense) run on a manifest whose votes were imported over the head's classes for half its items and
    over the nine classes for the other half (a partial `import-votes --model`)."""
    rows = []
    for i in range(8):
        calm = 0.2 + 0.08 * i
        meta = (record_from_counts({"calm": 3.0, "tense": 1.0}, classes=["calm", "tense"]) if i % 2
                else record_from_counts({"neutral": 3.0, "angry": 1.0}))
        rows.append({"id": f"u{i}", "variant": "raw", "status": "ok", "emotion": ["calm", "tense"][i % 2],
                     "pred": "calm" if calm > 0.5 else "tense", "confidence": max(calm, 1 - calm), "path": f"u{i}.wav",
                     "meta": json.dumps(meta), "score_calm": calm, "score_tense": 1 - calm})
    return rows


def test_a_manifest_mixing_nine_class_votes_and_a_heads_votes_is_read_per_item_and_the_mix_is_said_with_the_fix():
    # every item had NaN in the other label set's columns, so the vote-weighted confusion skipped all of them: "n/a: no
    # item has a vote distribution" beside 4 items with one; the other 4 were said to lack "a full vote distribution (e.g.
    # EmoDB gives only the intended class's share)", and their 16 votes to be "renormalised over calm, tense"
    rep = A.evaluate_listeners(pd.DataFrame(_mixed_rows()), n_boot=0)
    assert rep.soft_labels_reason == "" and rep.n_distribution == 4
    assert rep.confusion_votes is not None and rep.confusion_rows == ["calm", "tense", "angry", "neutral"]
    weighted = np.array(rep.confusion_votes)
    assert weighted.sum() == pytest.approx(8)  # one item, one unit of votes, over its own classes
    # preds: u0-u3 tense, u4-u7 calm; odd items vote calm 3 / tense 1, even ones neutral 3 / angry 1
    np.testing.assert_allclose(weighted, [[1.5, 1.5], [0.5, 0.5], [0.5, 0.5], [1.5, 1.5]])
    text = "\n".join(rep.notes)
    assert "4 of 8 items (e.g. u0, u2, u4) carry votes over other classes (angry, disgusted" in text
    assert "the manifest mixes label sets" in text and "import-votes … --model CHECKPOINT" in text
    assert "EmoDB" not in text and "renormalised" not in text
    assert "4 of 8 items" in rep.render()


def test_a_flat_listener_table_keeps_reading_every_vote_column():
    from workbench.data.listeners import listener_frame

    flat = pd.DataFrame([{"votes_calm": 1.0, "votes_tense": 2.0, "n_raters": 3.0, "agreement": 2 / 3}])
    assert listener_frame(flat)["vote_set"].tolist() == [""]
    meta = pd.DataFrame({"meta": [json.dumps(record_from_counts({"calm": 1}, classes=["calm", "tense"]))]})
    assert listener_frame(meta)["vote_set"].tolist() == ["calm;tense"]


def test_bands_of_items_labelled_outside_the_models_classes_say_why_they_are_empty():
    # votes and corpus labels over a head's classes (calm) against a run of the nine: every band said "no labelled item
    # has agreement in [0.75, 1]", as if the agreements were elsewhere, while no item could be scored at all
    table = pd.DataFrame([{**_row(i, "", {"angry": 0.9}, {"angry": 10 - i % 3}), "label": "calm"} for i in range(12)])
    rep = A.evaluate_listeners(table, n_boot=20)
    assert all(b["n"] == 0 for b in rep.bands)
    for b in rep.bands:
        assert b["empty_reason"].startswith("empty: none of the 12 items has a corpus label among the model's classes"), b
        assert "no labelled item has agreement" not in b["empty_reason"]
    assert any("corpus label is not one of the model's classes (calm 12)" in n for n in rep.notes)


def test_votes_over_classes_the_run_lacks_say_how_to_import_them_onto_its_classes():
    # votes over a head's calm/tense beside a run of the nine: the reason said only that the classes "share none",
    # leaving the user to find that import-votes --model puts the votes onto a checkpoint's own classes
    def voted(i):
        meta = {"votes_calm": 3.0, "votes_tense": 1.0, "n_raters": 4.0, "agreement": 0.75, "listener_majority": "calm"}
        return {**_row(i, "", {"angry": 0.9}, None), "meta": json.dumps(meta), "label": "calm"}

    rep = A.evaluate_listeners(pd.DataFrame([voted(i) for i in range(6)]), n_boot=10)
    assert "share none with the classes listeners voted over" in rep.soft_labels_reason
    assert "import-votes … --model CHECKPOINT` naming the checkpoint that made the run" in rep.soft_labels_reason
    assert "without --model for the nine emotion2vec+ classes" in rep.soft_labels_reason


def test_the_screen_gives_the_divergences_units():
    # the cross-entropy said "nats" and the Jensen-Shannon divergence nothing: base 2 (0 to 1) was only in the report
    text = A.evaluate_listeners(_table(), n_boot=20).render()
    assert re.search(r"Jensen-Shannon divergence [\d.]+ bits \(0 to 1\) \[", text), text
    assert re.search(r"cross-entropy [\d.]+ nats \[", text)


def test_a_split_share_above_the_agree_share_is_refused():
    # --agree 0.5 --split 0.75 listed the same items (agreement 0.6) under "listeners agree, model wrong" and "listeners split"
    with pytest.raises(ConfigError, match=r"split=0.75 is above agree=0.5: an item between them would count both"):
        A.evaluate_listeners(_table(), agree=0.5, split=0.75, n_boot=10)
    rep = A.evaluate_listeners(_table(), agree=0.6, split=0.6, n_boot=10)  # equal shares do not overlap: >= 0.6 and < 0.6
    assert not {r["id"] for r in rep.listeners_agree_model_wrong} & {r["id"] for r in rep.listeners_split}


def test_the_lists_print_how_many_listeners_agree_as_a_count():
    # "listeners angry (0.400 of 10)" read as a share of a count; it is 4 of the 10 listeners
    text = A.evaluate_listeners(_table(), n_boot=20).render(top=50)
    assert "listeners angry (4 of 10 listeners)" in text and "sad (10 of 10 listeners)" in text, text
    assert not re.search(r"\(\d\.\d{3} of \d+\)", text)
    assert A.listeners_words(0.773, 22) == "17 of 22 listeners"  # EmoDB's rates are printed rounded: 17 / 22 = 77.3 %
    assert A.listeners_words(0.5, 3) == "1.5 of 3 listeners" and A.listeners_words(1.0, 1) == "1 of 1 listener"
    assert A.listeners_words(float("nan"), 5) == "agreement n/a"


def _flat(table):
    from workbench.data.listeners import listener_frame

    return pd.concat([table.drop(columns=["meta"]), listener_frame(table).drop(columns=["vote_set"])], axis=1)


def test_a_flat_listener_table_refuses_a_missing_vote_column_and_counts_an_empty_cell_as_a_missing_vote():
    # without meta, a table lacking votes_sad was read as if no listener had a sad vote to give: the divergences were
    # renormalised over the other eight classes without a word of the column that was not there
    flat = _flat(_table())
    with pytest.raises(ConfigError) as e:
        A.evaluate_listeners(flat.drop(columns=["votes_sad"]), n_boot=0)
    msg = e.value.render()
    assert "lacks the vote column(s) votes_sad" in msg and "found votes_angry, votes_disgusted" in msg
    assert "expected one per class: votes_angry" in msg and "votes_sad, votes_surprised" in msg and "fix:" in msg
    # an empty cell is a missing vote: that item has no vote distribution, and the notes count it by column
    flat.loc[[0, 1], "votes_sad"] = np.nan
    rep = A.evaluate_listeners(flat, n_boot=0)
    assert rep.n_distribution == 28
    assert "2 items have no full vote distribution (empty vote cells, missing votes: votes_sad 2)" in rep.render()
    assert "EmoDB" not in rep.render()
    # the model's own classes are the set when every vote column is one of them
    head = pd.DataFrame([{"id": "u1", "variant": "raw", "status": "ok", "emotion": "calm", "pred": "calm", "confidence": 0.9,
                          "score_calm": 0.9, "score_tense": 0.1, "votes_calm": 3.0, "n_raters": 3.0, "agreement": 1.0,
                          "listener_majority": "calm"}])
    with pytest.raises(ConfigError, match="lacks the vote column.s. votes_tense; found votes_calm; expected one per class: votes_calm, votes_tense"):
        A.evaluate_listeners(head, n_boot=0)


def test_a_split_item_without_a_majority_says_so_instead_of_a_dash():
    """'listeners — (2 of 5 listeners)': the dash stood for a tie, and the count for the tied classes' share."""
    rows = [_row(i, "angry", {"angry": 0.9}, {"angry": 5}) for i in range(20)]
    rows.append(_row(50, "sad", {"neutral": 0.6}, {"angry": 2, "sad": 2, "neutral": 1}))
    text = A.evaluate_listeners(pd.DataFrame(rows), n_boot=50).render(top=5)
    line = next(ln for ln in text.splitlines() if ln.startswith("    u050: "))
    assert "listeners —" not in line and "listeners no majority (most chosen: 2 of 5 listeners)" in line, line
    # what "no majority" means, once under the list's head, not once per item (walk18)
    assert text.count("no majority: a tie, or the top category is none of the classes (its count is the most chosen category's)") == 1


def _voted_run(tmp_path, name, *, close: bool):
    """24 items whose listeners split 6/3/1 over three classes; the model's scores are those shares (close) or 1/9 each."""
    from test_probe import synthetic_row, write_run

    rows = []
    for i in range(24):
        emo, second, third = ("angry", "sad", "neutral") if i % 2 else ("happy", "neutral", "sad")
        votes = {emo: 6, second: 3, third: 1}
        scores = {k: (votes.get(k, 0) / 10 * 0.99 + 0.01 / 9 if close else 1 / 9) for k in LABEL_KEYS}
        rows.append(synthetic_row(f"v{i}", emotion=emo, pred=emo, scores=scores, speaker=f"s{i % 4}", meta=record_from_counts(votes)))
    return write_run(tmp_path / name, rows, [[1.0, 0.0]] * len(rows))


def test_a_divergence_to_the_votes_no_better_than_a_uniform_guess_is_flagged_on_screen_in_json_and_on_the_page(tmp_path, capsys, monkeypatch):
    """listeners printed 'cross-entropy 2.182 nats [2.122, 2.250]' over nine classes with no reference: log 9 = 2.197 is
    what scores of 1/9 get on every item, inside that interval.  Scores of 1/9 here: both divergences equal a uniform
    guess's exactly, flagged everywhere they are shown; scores equal to the vote shares: far below it, nothing flagged."""
    from workbench.cli import main
    from workbench.views import reporting as R

    flat = _voted_run(tmp_path, "flat", close=False)
    assert main(["listeners", str(flat.path), "--bootstrap", "50", "--out", str(tmp_path / "l")]) == 0
    screen = capsys.readouterr().out
    doc = json.loads((tmp_path / "l" / "listeners.json").read_text())["variants"]["raw"]
    ref = doc["uniform_reference"]
    assert ref["cross_entropy_uniform"] == pytest.approx(np.log(9)) and ref["cross_entropy_minus_uniform"] == pytest.approx(0, abs=1e-9)
    assert doc["cross_entropy_mean"] == pytest.approx(np.log(9)) and ref["jsd_minus_uniform"] == pytest.approx(0, abs=1e-9)
    # every item has one agreement (and scores of 1/9 one confidence): rho n/a, said with its reason (a check of its own)
    checks = [c for c in doc["checks"] if not c.startswith("Spearman rho(confidence, agreement) n/a: all")]
    assert len(doc["checks"]) == 3 and "all 24 items have the same agreement (0.600)" in doc["checks"][2]
    assert len(checks) == 2 and checks[0].startswith("Jensen-Shannon divergence") and checks[1].startswith("cross-entropy 2.197 nats")
    assert all("a uniform guess over 9 classes" in c for c in checks) and "log 9 = 2.197 nats" in checks[1]
    shown = []
    monkeypatch.setattr(R, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
    R.listeners_section(flat.path, n_boot=50)
    page = "".join(shown)
    for c in checks:
        assert f"!! {c}" in screen and f"<b>⚠ {c}</b>" in page.replace("&#x27;", "'"), c
    close = A.evaluate_listeners(_voted_run(tmp_path, "close", close=True).results(), n_boot=50)
    assert [c for c in close.checks if "uniform" in c] == [] and close.uniform_reference["cross_entropy_minus_uniform_ci"][1] < 0
    assert "uniform guess" not in close.render()


def test_a_confidence_agreement_correlation_whose_interval_holds_0_is_flagged(tmp_path, monkeypatch):
    """listeners printed 'Spearman rho(confidence, agreement) -0.228 [-0.560, 0.179]' bare: an interval across 0 is no
    association, which the screen, listeners.json and the page now say; a confidence that follows agreement is not flagged."""
    from test_probe import write_run

    from workbench.views import reporting as R

    rng = np.random.default_rng(2)
    agree = rng.integers(5, 11, 40)
    for name, conf in (("noise", rng.uniform(0.3, 0.9, 40)), ("follows", 0.3 + 0.06 * agree + rng.uniform(0, 0.01, 40))):
        rows = [_row(i, "angry", {"angry": float(c), "sad": 0.1}, {"angry": int(a), "sad": 10 - int(a)}) for i, (a, c) in enumerate(zip(agree, conf))]
        rep = A.evaluate_listeners(pd.DataFrame(rows), n_boot=200)
        lo, hi = rep.spearman_ci
        flagged = [c for c in rep.checks if c.startswith("Spearman rho(confidence, agreement)")]
        assert bool(flagged) == (lo <= 0 <= hi) == (name == "noise"), (name, rep.spearman_ci)
        if flagged:
            assert f"!! {flagged[0]}" in rep.render() and flagged[0] in rep.to_dict()["checks"]
            assert "the interval holds 0" in flagged[0] and "over 40 items" in flagged[0]
            rf = write_run(tmp_path / name, [{**r, "text": "", "speaker": "s", "gender": "", "split": "", "start": None,
                                               "duration": None, "chain_hash": "c0", "error": "", "label": "angry",
                                               "source_sha256": f"sha-{r['id']}", "finding_codes": ""} for r in rows],
                           [[1.0, 0.0]] * len(rows))
            shown = []
            monkeypatch.setattr(R, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
            R.listeners_section(rf.path, n_boot=200)
            assert "the interval holds 0" in "".join(shown)


def test_an_agreement_band_at_chance_or_below_its_majority_baseline_is_flagged_on_screen_in_json_and_on_the_page(tmp_path, capsys,
                                                                                                             monkeypatch):
    """listeners printed 'agreement [0.75, 1] n=24 accuracy 0.000 [0.000, 0.000] UAR 0.000 [0.000, 0.000]' with no word
    that a constant answer would do better, the check `metrics` makes of every figure of the kind.  A band now carries
    its own majority baseline and chance level; a band the model gets right carries neither."""
    from test_probe import synthetic_row, write_run

    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from workbench.cli import main
    from workbench.views import reporting as R

    rows = []
    for i in range(48):  # 24 clear items the model gets wrong, 24 the model gets right, 6 of each of 4 classes in each
        emo = ("angry", "happy", "neutral", "sad")[i % 4]
        wrong = i < 24
        pred = ("happy", "neutral", "sad", "angry")[i % 4] if wrong else emo
        votes = {emo: 10} if wrong else {emo: 6, ("happy", "neutral", "sad", "angry")[i % 4]: 4}
        rows.append(synthetic_row(f"v{i}", emotion=emo, pred=pred, scores={k: 0.9 if k == pred else 0.1 / 8 for k in LABEL_KEYS},
                                  speaker=f"s{i % 4}", meta=record_from_counts(votes)))
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    assert main(["listeners", str(rf.path), "--bootstrap", "50", "--out", str(tmp_path / "l")]) == 0
    screen = capsys.readouterr().out
    bands = json.loads((tmp_path / "l" / "listeners.json").read_text())["variants"]["raw"]["bands"]
    clear, mid = bands[-1], bands[1]
    truth = [r["emotion"] for r in rows]
    preds = [r["pred"] for r in rows]
    assert clear["accuracy"] == accuracy_score(truth[:24], preds[:24]) == 0 and mid["n"] == 24
    assert mid["uar"] == pytest.approx(balanced_accuracy_score(truth[24:], preds[24:]))
    wa_flag = "accuracy BELOW THE MAJORITY BASELINE, interval and all: always answering angry scores 0.250 (6/24)"
    uar_flag = "UAR BELOW CHANCE, interval and all (chance 0.250 over 4 classes)"
    assert clear["accuracy_majority"] == wa_flag and clear["uar_chance"] == uar_flag
    # the note stands beside the baselines: their verdicts, not the baselines again (walk18)
    assert "accuracy BELOW THE MAJORITY BASELINE, interval and all; UAR BELOW CHANCE, interval and all" in clear["note"]
    assert "always answering" not in clear["note"] and "chance 0.250" not in clear["note"]
    assert mid["accuracy_majority"] == mid["uar_chance"] == "" and "BELOW" not in mid["note"]
    line = next(ln for ln in screen.splitlines() if "agreement [0.75" in ln)
    assert "accuracy BELOW THE MAJORITY BASELINE" in line and "UAR BELOW CHANCE" in line
    assert line.count("6/24") == 1 and line.count("chance 0.250 over 4 classes") == 1, line
    shown = []
    monkeypatch.setattr(R, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
    R.listeners_section(rf.path, n_boot=50)
    page = "".join(shown)
    row = next(r for r in page.split("<tr>") if r.startswith("<td>[0.75, 1]"))
    assert "accuracy BELOW THE MAJORITY BASELINE" in row and "UAR BELOW CHANCE" in row and row.count("6/24") == 1, row
