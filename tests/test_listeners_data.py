"""Readers of listeners' judgements, each on files written here in the corpus's documented format."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.data import listeners as L
from workbench.errors import ConfigError
from workbench.data.manifest import Item, Manifest


def _emodb_erkennung(path, rows):
    # Latin-1, tab-separated, decimal commas, header "Nr. Satz erkannt natuerlich"
    lines = ["Nr.\tSatz\terkannt\tnatuerlich"] + [f"{i}\t{name}\t{rec}\t{nat}" for i, (name, rec, nat) in enumerate(rows, 1)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return path


def test_emodb_erkennung_recognition_is_agreement_with_the_intended_label(tmp_path):
    p = _emodb_erkennung(tmp_path / "erkennung.txt", [
        ("03a01Fa", "85,0", "90,5"),   # happy, 85 % recognised
        ("03a01Nc", "45", "70,0"),     # neutral, recognised by fewer than half
        ("03a04Lc", "60,0", "80,0"),   # boredom: no counterpart
        ("16b10Wb", "100,0", "95,0"),  # not in the manifest below
    ])
    rep = L.read_emodb_erkennung(p)
    happy = rep.records["03a01Fa"]
    assert happy["agreement"] == pytest.approx(0.85)
    assert happy["n_raters"] == 20
    assert happy["votes_happy"] == pytest.approx(17.0)
    assert all(math.isnan(happy[c]) for c in L.VOTE_COLUMNS if c != "votes_happy")  # rest unknown, not guessed
    assert happy["emodb_naturalness_pct"] == pytest.approx(90.5)
    assert happy["listener_majority"] == "happy"
    assert rep.records["03a01Nc"]["listener_majority"] == ""  # 45 % is no majority
    bored = rep.records["03a04Lc"]
    assert bored["votes_unmapped"] == pytest.approx(12.0) and math.isnan(bored["votes_neutral"])
    m = Manifest([Item(id=i, path=f"{i}.wav") for i in ("03a01Fa", "03a01Nc", "03a04Lc", "09a02Wb")])
    att = L.attach(m, rep)
    assert (att.n_attached, att.n_items_without, att.n_records_not_in_manifest) == (3, 1, 1)
    assert m.items[0].meta["agreement"] == pytest.approx(0.85)
    # a distribution is not derivable: NaN, never a one-hot
    assert np.isnan(L.vote_distribution(happy)).all()


def test_emodb_loader_reads_erkennung_in_the_corpus_folder(tmp_path):
    from workbench.data.corpora import prepare_emodb

    wav = tmp_path / "wav"
    wav.mkdir()
    for name in ("03a01Fa", "08b02Ta"):
        (wav / f"{name}.wav").write_bytes(b"")
    _emodb_erkennung(tmp_path / "erkennung.txt", [("03a01Fa", "85,0", "90,0"), ("08b02Ta", "70,0", "60,0"), ("99x99Xx", "1", "1")])
    m = prepare_emodb(tmp_path)
    by_id = {it.id: it for it in m.items}
    assert by_id["08b02Ta"].meta["votes_sad"] == pytest.approx(14.0)
    assert by_id["03a01Fa"].meta["emodb_recognition_pct"] == pytest.approx(85.0)


def _tabulated(path, rows):
    # R write.csv: first header cell empty, row names 100000*queryType + clipNum
    header = '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote","meanEmoResp"'
    lines = [header] + [f'"{rn}",{a},{d},{f},{h},{n},{s},"{name}",{a+d+f+h+n+s},{max(a,d,f,h,n,s)/(a+d+f+h+n+s)},"{vote}",{mean}'
                        for rn, (a, d, f, h, n, s), name, vote, mean in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_crema_d_tabulated_votes_pick_the_voice_rows(tmp_path):
    p = _tabulated(tmp_path / "tabulatedVotes.csv", [
        (100001, (7, 1, 0, 0, 2, 0), "1001_DFA_ANG_XX", "A", 51.2),   # voice
        (200001, (1, 0, 0, 0, 9, 0), "1001_DFA_ANG_XX", "N", 40.0),   # face: not what a speech model hears
        (300001, (9, 0, 0, 0, 1, 0), "1001_DFA_ANG_XX", "A", 60.0),   # audio-visual
        (100002, (0, 0, 0, 5, 5, 0), "1001_DFA_HAP_XX", "H:N", 30.0),  # a tie
    ])
    rep = L.read_crema_d_tabulated(p)
    ang = rep.records["1001_DFA_ANG_XX"]
    assert (ang["votes_angry"], ang["votes_disgusted"], ang["votes_neutral"], ang["n_raters"]) == (7, 1, 2, 10)
    assert ang["agreement"] == pytest.approx(0.7) and ang["listener_majority"] == "angry"
    assert ang["crema_d_meanEmoResp"] == pytest.approx(51.2) and ang["crema_d_emoVote"] == "A"
    assert rep.records["1001_DFA_HAP_XX"]["listener_majority"] == ""  # tie
    assert rep.dropped["rows of other rating modalities than voice"] == 2
    av = L.read_crema_d_tabulated(p, modality="audio-visual").records["1001_DFA_ANG_XX"]
    assert av["votes_angry"] == 9
    np.testing.assert_allclose(L.vote_distribution(ang, ["angry", "disgusted", "neutral"]), [0.7, 0.1, 0.2])
    with pytest.raises(ConfigError, match="voice, face, audio-visual"):
        L.read_crema_d_tabulated(p, modality="audio")


def test_crema_d_responses_drop_practice_other_modalities_and_slow_first_clicks(tmp_path):
    head = '"","localid","pos","ans","ttr","queryType","numTries","clipNum","questNum","subType","clipName","sessionNums","respEmo","respLevel","dispEmo","dispVal","dispLevel"'
    rows = [
        (1, "A", 1, 1, "1001_DFA_ANG_XX", 1, "A"),
        (2, "A", 1, 2, "1001_DFA_ANG_XX", 2, "A"),
        (3, "N", 1, 3, "1001_DFA_ANG_XX", 3, "N"),
        (4, "A", 1, 4, "1001_DFA_ANG_XX", 4, "A"),   # its first click came after 10 s: dropped
        (5, "H", 2, 1, "1001_DFA_ANG_XX", 1, "H"),   # face only
        (6, "A", 1, 5, "ANG_HI_practice", 1, "A"),  # practice
    ]
    lines = [head] + [f'"{i}","u{i}",{i},"{a}_50",1500,{q},0,1,{qn},4,"{clip}",{s},"{e}",50,"ANG","X",50' for i, a, q, qn, clip, s, e in rows]
    (tmp_path / "finishedResponses.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    emo_head = '"","localid","sessionNums","queryType","questNum","pos","ttr","numTries","clipNum","clipName"'
    emo = [emo_head, '"1","u4",4,1,4,1,12000,0,1,"1001_DFA_ANG_XX"', '"2","u1",1,1,1,1,900,0,1,"1001_DFA_ANG_XX"']
    (tmp_path / "finishedEmoResponses.csv").write_text("\n".join(emo) + "\n", encoding="utf-8")
    rep = L.read_crema_d_responses(tmp_path / "finishedResponses.csv")
    rec = rep.records["1001_DFA_ANG_XX"]
    assert (rec["votes_angry"], rec["votes_neutral"], rec["n_raters"]) == (2, 1, 3)
    assert rec["agreement"] == pytest.approx(2 / 3)
    assert "ANG_HI_practice" not in rep.records
    assert rep.dropped["practice responses"] == 1
    assert rep.dropped["responses of other rating modalities than voice"] == 1
    assert sum(v for k, v in rep.dropped.items() if "10 s" in k) == 1


IEMOCAP_EVAL = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral state;\t()
C-E3:\tNeutral state;\t()
C-E4:\tNeutral state; Frustration;\t()
C-F1:\tAnger;\t(self)
A-E3:\tval 3; act 2; dom  2;\t()
A-E4:\tval 2; act 3; dom  3;\t(mildly aggravated)
A-F1:\tval 1; act 5; dom  5;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\txxx\t[2.0000, 3.0000, 3.0000]
C-E1:\tFrustration;\t()
C-E2:\tAnger;\t()
C-E4:\tExcited;\t()
C-M1:\tHappiness;\t()
A-E1:\tval 2; act 3; dom  3;\t()
"""


def test_iemocap_evaluator_lines_give_votes_and_dimensional_means(tmp_path):
    d = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    d.mkdir(parents=True)
    (d / "Ses01F_impro01.txt").write_text(IEMOCAP_EVAL, encoding="utf-8")
    rep = L.read_iemocap_evaluation(tmp_path)
    a = rep.records["Ses01F_impro01_F000"]
    # three evaluators; the third named two categories: half a vote each
    assert a["n_raters"] == pytest.approx(3)
    assert a["votes_neutral"] == pytest.approx(2.5) and a["votes_unmapped"] == pytest.approx(0.5)
    assert a["votes_angry"] == 0  # the actor's self-evaluation is not a listener's vote
    assert a["iemocap_self"] == "Anger"
    assert a["iemocap_val_mean"] == pytest.approx(2.5) and a["iemocap_act_mean"] == pytest.approx(2.5)
    assert a["agreement"] == pytest.approx(2.5 / 3) and a["listener_majority"] == "neutral"
    b = rep.records["Ses01F_impro01_M001"]
    assert (b["votes_angry"], b["votes_happy"], b["votes_unmapped"]) == (1, 1, 1)
    assert b["listener_majority"] == "" and b["agreement"] == pytest.approx(1 / 3)
    with_self = L.read_iemocap_evaluation(d / "Ses01F_impro01.txt", include_self=True).records["Ses01F_impro01_F000"]
    assert with_self["votes_angry"] == 1 and with_self["n_raters"] == pytest.approx(4)


def test_iemocap_evaluation_block_as_distributed_and_its_per_rater_subfolders(tmp_path):
    """An EmoEvaluation block with the forms the release writes (Strong-AI-Lab/emotion datasets/IEMOCAP/process.py):
    ``Other:<word>`` categories, several categories a rater, ``;`` inside a comment, ``Neutral`` beside ``Neutral
    state``, an ``A-E`` line whose dominance has one space or no value, the actors' ``C-F1``/``A-F1``.  The folder also
    holds ``Categorical/``, ``Attribute/`` and ``Self-evaluation/`` per-rater files: given the EmoEvaluation folder,
    the reader read them too and named them among the votes' sources."""
    d = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    (d / "Categorical").mkdir(parents=True)
    (d / "Ses01F_impro01.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\toth\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tOther:amused; Happiness;\t(laughing; at him)\n"
        "C-E3:\tOther:sarcastic;\t()\n"
        "C-E4:\tNeutral;\t()\n"
        "C-F1:\tNeutral state;\t(curious)\n"
        "A-E3:\tval 3; act 2; dom 2;\t()\n"
        "A-E4:\tval 2; act 3; dom ;\t(mildly aggravated; polite)\n"
        "A-F1:\tval 3; act 2; dom  1;\t()\n", encoding="utf-8")
    (d / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text("Ses01F_impro01_F000 :Other; ()\n", encoding="utf-8")
    rep = L.read_iemocap_evaluation(d)
    a = rep.records["Ses01F_impro01_F000"]
    assert (a["votes_other"], a["votes_happy"], a["votes_neutral"], a["n_raters"]) == (1.5, 0.5, 1.0, 3.0)
    assert (a["iemocap_val_mean"], a["iemocap_act_mean"], a["iemocap_dom_mean"]) == (2.5, 2.5, 2.0)
    assert a["iemocap_n_dimensional_raters"] == 2.0 and a["iemocap_self"] == "Neutral state"
    assert "Categorical" not in rep.source and rep.source.endswith("Ses01F_impro01.txt")


def test_msp_podcast_detailed_labels(tmp_path):
    det = tmp_path / "labels_detailed.csv"
    det.write_text("FileName,WorkerID,EmoClass_Major,EmoAct,EmoVal,EmoDom\n"
                   "MSP-PODCAST_0001_0008.wav,w1,Angry,5,2,5\n"
                   "MSP-PODCAST_0001_0008.wav,w2,Angry,6,2,6\n"
                   "MSP-PODCAST_0001_0008.wav,w3,Contempt,4,3,4\n"
                   "MSP-PODCAST_0001_0008.wav,w4,Neutral,3,4,3\n", encoding="utf-8")
    con = tmp_path / "labels_consensus.csv"
    con.write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\nMSP-PODCAST_0001_0008.wav,A,4.5,2.75,4.5,127,Female,Train\n",
                   encoding="utf-8")
    rec = L.read_msp_podcast(det, consensus=con).records["MSP-PODCAST_0001_0008"]
    assert (rec["votes_angry"], rec["votes_neutral"], rec["votes_unmapped"], rec["n_raters"]) == (2, 1, 1, 4)
    assert rec["msp_act_mean"] == pytest.approx(4.5) and rec["msp_consensus_class"] == "A"
    bad = tmp_path / "bad.csv"
    bad.write_text("FileName,WorkerID,EmoClass_Major\nx.wav,w1,Bored\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'Bored'"):
        L.read_msp_podcast(bad)


def test_msp_podcast_detailed_labels_packed_in_emo_detail(tmp_path):
    """Releases from 1.7 write labels_detailed.csv as FileName plus one EmoDetail cell per rating,
    'WORKER; primary; secondary; A:x; V:y; D:z;': it was refused for having neither EmoClass_Major nor EmoClass."""
    det = tmp_path / "labels_detailed.csv"
    det.write_text('FileName,EmoDetail\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00001; Angry; Sad,Frustrated; A:5.0; V:2.0; D:5.0;"\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00002; Angry; ; A:6.0; V:2.0; D:6.0;"\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00003; Contempt; Angry; A:4.0; V:3.0; D:4.0;"\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00004; Other-Concerned; ; A:3.0; V:4.0; D:3.0;"\n', encoding="utf-8")
    rec = L.read_msp_podcast(det).records["MSP-PODCAST_0001_0008"]
    assert (rec["votes_angry"], rec["votes_other"], rec["votes_unmapped"], rec["n_raters"]) == (2, 1, 1, 4)
    assert rec["msp_act_mean"] == pytest.approx(4.5) and rec["msp_val_mean"] == pytest.approx(2.75)
    assert rec["listener_majority"] == "angry" and rec["agreement"] == pytest.approx(0.5)
    bad = tmp_path / "bad.csv"
    bad.write_text('FileName,EmoDetail\nx.wav,"WORKER00001; Angry"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        L.read_msp_podcast(bad)


def test_msp_podcast_emo_detail_without_its_secondary_field(tmp_path):
    """A rating's EmoDetail cell leaves the secondary classes out on some rows of a later release
    ('WORKER; primary; A:x; V:y; D:z;', no empty field between): the whole file was refused, 'line 2 … is not
    WORKER; primary; secondary; …'.  Both the empty and the absent field are read; a cell without its attributes still
    is refused."""
    det = tmp_path / "labels_detailed.csv"
    det.write_text('FileName,EmoDetail\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00001; Angry; A:5.0; V:2.0; D:5.0;"\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00002; Angry; ; A:6.0; V:2.0; D:6.0;"\n'
                   'MSP-PODCAST_0001_0008.wav,"WORKER00003; Sad; Frustrated,Disappointed; A:2.0; V:2.0; D:3.0;"\n',
                   encoding="utf-8")
    rec = L.read_msp_podcast(det).records["MSP-PODCAST_0001_0008"]
    assert (rec["votes_angry"], rec["votes_sad"], rec["n_raters"]) == (2, 1, 3)
    assert rec["msp_act_mean"] == pytest.approx(13 / 3) and rec["msp_dom_mean"] == pytest.approx(14 / 3)
    bad = tmp_path / "bad.csv"
    bad.write_text('FileName,EmoDetail\nx.wav,"WORKER00001; Angry; V:2.0; D:5.0;"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        L.read_msp_podcast(bad)


def test_generic_forms_and_their_checks(tmp_path):
    p = tmp_path / "votes.csv"
    p.write_text("id,rater_labels\na,anger;angry;neutral\nb,happy;joy\n", encoding="utf-8")
    rep = L.read_generic(p)
    assert rep.records["a"]["votes_angry"] == 2 and rep.records["a"]["agreement"] == pytest.approx(2 / 3)
    q = tmp_path / "counts.csv"
    q.write_text("id,votes_angry,votes_sad\na,3,1\n", encoding="utf-8")
    assert L.read_generic(q).records["a"]["n_raters"] == 4
    r = tmp_path / "typo.csv"
    r.write_text("id,votes_angri\na,3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="votes_angri.*valid: votes_angry"):
        L.read_generic(r)
    s = tmp_path / "unknown.csv"
    s.write_text("id,rater_labels\na,grumpy;angry\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="grumpy"):
        L.read_generic(s)
    assert L.read_generic(s, label_map={"grumpy": "angry"}).records["a"]["votes_angry"] == 2
    # from a manifest's own columns (HF datasets, lhotse custom fields arrive in meta)
    m = Manifest([Item(id="x", path="x.wav", meta={"rater_labels": "sad;sad;neutral"}), Item(id="y", path="y.wav")])
    assert L.records_from_manifest(m).records["x"]["votes_sad"] == 2
    with pytest.raises(ConfigError, match="unknown votes format 'emodb2'.*crema-d-tabulated"):
        L.read_votes("emodb2", p)
    with pytest.raises(ConfigError, match="modality"):
        L.read_votes("emodb", p, modality="voice")


def test_listener_frame_reads_meta_json():
    import json

    import pandas as pd

    rec = L.record_from_counts({"angry": 3, "sad": 1})
    df = pd.DataFrame({"meta": [json.dumps(rec), "{}"]})
    lf = L.listener_frame(df)
    assert lf.loc[0, "agreement"] == pytest.approx(0.75) and np.isnan(lf.loc[1, "agreement"])
    assert L.has_listeners(df)


def test_hf_dataset_with_a_rater_labels_sequence(tmp_path):
    datasets = pytest.importorskip("datasets")
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.hf import import_hf

    cells = []
    for i in range(2):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, speech_like(16000, 0.5, seed=i), 16000, subtype="PCM_16")
        cells.append({"bytes": p.read_bytes(), "path": p.name})
    feats = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                               "emotion": datasets.Value("string"), "id": datasets.Value("string"),
                               "rater_labels": datasets.Sequence(datasets.Value("string"))})
    ds = datasets.Dataset.from_dict({"audio": cells, "emotion": ["angry", "sad"], "id": ["x", "y"],
                                     "rater_labels": [["angry", "angry", "neutral"], ["sad", "sad", "sad"]]}, features=feats)
    ds.cast_column("audio", datasets.Audio()).save_to_disk(str(tmp_path / "saved"))
    m = import_hf(tmp_path / "saved", tmp_path / "m.jsonl").manifest
    rep = L.records_from_manifest(m)
    assert rep.records["x"]["votes_angry"] == 2 and rep.records["x"]["agreement"] == pytest.approx(2 / 3)
    assert rep.records["y"]["listener_majority"] == "sad"


def test_lhotse_supervisions_with_rater_labels(tmp_path):
    lhotse = pytest.importorskip("lhotse")
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.lhotse_io import import_lhotse

    p = tmp_path / "rec0.wav"
    sf.write(p, speech_like(16000, 2.0, seed=0), 16000, subtype="PCM_16")
    lhotse.RecordingSet.from_recordings([lhotse.Recording.from_file(p, recording_id="rec0")]).to_file(tmp_path / "r.jsonl.gz")
    S = lhotse.SupervisionSegment
    lhotse.SupervisionSet.from_segments([
        S("a", "rec0", 0.0, 1.0, custom={"emotion": "ang", "rater_labels": ["angry", "angry", "sad", "angry"]}),
        S("b", "rec0", 1.0, 1.0, custom={"emotion": "sad", "votes_sad": 3, "votes_neutral": 1}),
    ]).to_file(tmp_path / "s.jsonl.gz")
    m = import_lhotse(recordings=tmp_path / "r.jsonl.gz", supervisions=tmp_path / "s.jsonl.gz", out=tmp_path / "m.jsonl").manifest
    rep = L.records_from_manifest(m)
    assert rep.records["a"]["votes_angry"] == 3 and rep.records["a"]["agreement"] == pytest.approx(0.75)
    assert rep.records["b"]["n_raters"] == 4 and rep.records["b"]["listener_majority"] == "sad"


def test_vote_rows_naming_an_id_with_a_line_break_are_summed_up_on_one_line(tmp_path):
    """A votes file is someone else's data: its ids and categories reach the screen in the attach summary, which printed
    "x\\nerror: forged" as it was (a forged line under the terminal guard, which keeps line breaks)."""
    p = tmp_path / "votes.csv"
    p.write_text('id,rater_labels\na,angry;angry\n"x\nerror: forged\x1b[2J",sad;sad\n', encoding="utf-8")
    report = L.read_generic(p)
    manifest = Manifest([Item(id="a", path="a.wav"), Item(id="b", path="b.wav")])
    text = report.summary() + "\n" + L.attach(manifest, report).summary()
    assert len(text.splitlines()) == 2 and "x\\nerror: forged\\x1b[2J" in text, text
    assert text.replace("\n", "").isprintable(), repr(text)


def test_labels_with_no_counterpart_are_not_one_category_of_the_agreement():
    # "frustrated;frustrated;bored;bored;angry" with both mapped to "" (no counterpart): the majority category holds 2 of
    # 5 responses, but the unmapped ones were counted as one category of 4, so agreement read 0.8 ("listeners agree")
    rec = L.record_from_rater_labels("frustrated;frustrated;bored;bored;angry", label_map={"frustrated": "", "bored": ""})
    assert (rec["votes_angry"], rec["votes_unmapped"], rec["n_raters"]) == (1, 4, 5)
    assert rec["agreement"] == pytest.approx(2 / 5)
    # a corpus reader's raw categories (vote(): IEMOCAP frustration and other both unmapped, 2 each)
    counts, unmapped, raw_max = L.vote(["Frustration", "Frustration", "Other", "Other", "Anger"],
                                       {"frustration": "", "other": "", "anger": "angry"}, L.ReadReport({}, "t"))
    assert L.record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)["agreement"] == pytest.approx(2 / 5)
    # synonyms of one class stay one category
    assert L.record_from_rater_labels("anger;angry;neutral")["agreement"] == pytest.approx(2 / 3)


def test_each_category_with_no_counterpart_competes_for_the_majority_on_its_own():
    # IEMOCAP Frustration 1, Other 1, Anger 2: anger is the listeners' majority (2 against 1 and 1), but the two unmapped
    # categories were added up (2) and compared with anger as one, so listener_majority came out "" (no majority)
    table = {"frustration": "", "other": "", "anger": "angry", "neutral state": "neutral"}
    counts, unmapped, raw_max = L.vote(["Frustration", "Other", "Anger", "Anger"], table, L.ReadReport({}, "t"))
    rec = L.record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
    assert (rec["listener_majority"], rec["votes_unmapped"], rec["n_raters"]) == ("angry", 2, 4)
    counts, unmapped, raw_max = L.vote(["Frustration", "Other", "Neutral state", "Anger", "Anger"], table, L.ReadReport({}, "t"))
    assert L.record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)["listener_majority"] == "angry"
    # the generic form with a label map: the same
    rec = L.record_from_rater_labels("frustrated;bored;angry;angry", label_map={"frustrated": "", "bored": ""})
    assert rec["listener_majority"] == "angry" and rec["agreement"] == pytest.approx(2 / 4)
    # one unmapped category as large as the top class: still no majority; larger: none with a counterpart
    counts, unmapped, raw_max = L.vote(["Frustration", "Frustration", "Other", "Other", "Anger"], table, L.ReadReport({}, "t"))
    assert L.record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)["listener_majority"] == ""
    assert L.record_from_rater_labels("frustrated;frustrated;frustrated;angry;angry",
                                      label_map={"frustrated": ""})["listener_majority"] == ""
    # only a total known (votes_unmapped columns): they count as one category, never a guessed split
    assert L.record_from_counts({"angry": 2}, unmapped=2)["listener_majority"] == ""
    assert L.record_from_counts({"angry": 3}, unmapped=2)["listener_majority"] == "angry"


def test_iemocap_happiness_and_excited_are_one_class_for_the_majority_and_the_agreement(tmp_path):
    # Happiness 1, Excited 1, Neutral 1: the majority was happy (the two merged, 2 of 3) while the agreement was the
    # largest raw category's share, 1/3; both now follow the common 4-class protocol (excited merged into happy)
    d = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    d.mkdir(parents=True)
    (d / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\txxx\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tHappiness;\t()\nC-E2:\tExcited;\t()\nC-E3:\tNeutral state;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\tfru\t[2.0000, 3.0000, 3.0000]\n"
        "C-E1:\tFrustration;\t()\nC-E2:\tOther;\t()\nC-E4:\tExcited;\t()\n", encoding="utf-8")
    rep = L.read_iemocap_evaluation(tmp_path)
    a = rep.records["Ses01F_impro01_F000"]
    assert a["votes_happy"] == 2 and a["listener_majority"] == "happy" and a["agreement"] == pytest.approx(2 / 3)
    b = rep.records["Ses01F_impro01_M001"]  # Frustration (no counterpart), Other, Excited: a three-way tie, no majority
    assert b["listener_majority"] == "" and b["agreement"] == pytest.approx(1 / 3)
    assert "Happiness and Excited count as one class, happy, for the majority and for the agreement alike" in rep.summary()
    assert "(1 item has votes for both)" in rep.summary()


def test_crema_d_tabulated_level_mean_of_an_emotion_no_rater_chose_is_nan_not_minus_one(tmp_path):
    # the distribution's header and its first row (processedResults/tabulatedVotes.csv): tabulateVotesV2.r fills the
    # per-emotion level means with rep(-1, 6), so -1 is "no rater chose this emotion", not a level below 0
    cols = ("meanEmoResp,meanAngerResp,meanDisgustResp,meanFearResp,meanHappyResp,meanNeutralResp,meanSadResp,medianEmoResp,"
            "meanEmoRespNorm,meanAngerRespNorm,meanDisgustRespNorm,meanFearRespNorm,meanHappyRespNorm,meanNeutralRespNorm,"
            "meanSadRespNorm,medianEmoRespNorm")
    header = '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote",' + ",".join(f'"{c}"' for c in cols.split(","))
    row = ('"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.909090909090909,"N",71.7272727272727,-1,-1,-1,98,69.1,-1,87,'
           '66.1713199530713,-1,-1,-1,97.8947368421053,62.9989782641679,-1,83.3333333333333')
    p = tmp_path / "tabulatedVotes.csv"
    p.write_text(header + "\n" + row + "\n", encoding="utf-8")
    rec = L.read_crema_d_tabulated(p).records["1001_IEO_NEU_XX"]
    for emo in ("Anger", "Disgust", "Fear", "Sad"):
        assert np.isnan(rec[f"crema_d_mean{emo}Resp"]) and np.isnan(rec[f"crema_d_mean{emo}RespNorm"])
    assert rec["crema_d_meanHappyResp"] == pytest.approx(98) and rec["crema_d_meanNeutralRespNorm"] == pytest.approx(62.9989782641679)
    assert rec["crema_d_meanEmoResp"] == pytest.approx(71.7272727272727) and rec["crema_d_medianEmoResp"] == pytest.approx(87)


def test_a_row_of_empty_vote_cells_is_no_judgement_and_empties_beside_counts_are_said(tmp_path):
    """An item nobody judged was read as a record of 0 raters, counted among the items with listener judgements;
    an empty cell beside counts is read as 0 (a pivot table's NaN) and the summary says how many rows that was."""
    from workbench.data.listeners import NO_COUNTS, read_generic

    p = tmp_path / "votes.csv"
    p.write_text("id,votes_angry,votes_sad\nnobody,,\npivot,3,\nfull,1,2\n", encoding="utf-8")
    report = read_generic(p, classes=["angry", "sad"])
    assert sorted(report.records) == ["full", "pivot"]
    assert report.records["pivot"]["n_raters"] == 3.0 and report.records["pivot"]["votes_sad"] == 0.0
    assert report.dropped == {NO_COUNTS: 1} and report.empty_counts_as_zero == 1
    text = report.summary()
    assert text.startswith("2 items with listener judgements") and f"1 {NO_COUNTS.replace('row(s)', 'row')}" in text
    assert "1 row has empty vote cells beside their counts, read as 0" in text


def test_an_item_whose_rater_labels_and_vote_counts_disagree_is_refused_and_agreeing_ones_are_read(tmp_path):
    # `import-votes --format generic` wrote votes_<class> counts beside an older rater_labels column, and a later read
    # took the stale rater_labels in their place without a word
    stale = Item(id="a", path="a.wav", meta={"rater_labels": "angry;angry;neutral", "votes_angry": 1, "votes_sad": 2})
    with pytest.raises(ConfigError) as e:
        L.records_from_manifest(Manifest([stale]))
    assert "item a" in str(e.value) and "angry 2, neutral 1 against angry 1, sad 2" in str(e.value)
    agreeing = Item(id="b", path="b.wav", meta={"rater_labels": "sad;sad", "votes_sad": 2, "votes_angry": 0})
    labels_only = Item(id="c", path="c.wav", meta={"rater_labels": "happy", "votes_sad": "", "votes_angry": ""})
    report = L.records_from_manifest(Manifest([agreeing, labels_only]))
    assert report.records["b"]["votes_sad"] == 2 and report.records["c"]["votes_happy"] == 1 and not report.dropped
    (tmp_path / "v.csv").write_text("id,rater_labels,votes_angry,votes_sad\na,angry;angry;neutral,1,2\nb,sad;sad,0,2\n")
    with pytest.raises(ConfigError, match="row 1"):
        L.read_generic(tmp_path / "v.csv")


def test_attached_votes_replace_an_items_old_rater_labels():
    # after `import-votes --format generic`, the manifest kept a stale rater_labels column beside the new counts
    from workbench.data.votes import attach, record_from_counts

    m = Manifest([Item(id="a", path="a.wav", meta={"rater_labels": "angry;angry;neutral"})])
    report = L.ReadReport({"a": record_from_counts({"sad": 2.0, "angry": 1.0})}, "votes.csv")
    assert attach(m, report).n_attached == 1
    assert "rater_labels" not in m.items[0].meta and m.items[0].meta["votes_sad"] == 2.0
    assert L.records_from_manifest(m).records["a"]["votes_sad"] == 2.0  # read back as attached


@pytest.mark.parametrize("cell", ["nan", "NaN", "none", "1_000", "\uff11", "1e3", "+2", "0x10", "inf", "-3", "2.5", "3 votes"])
def test_a_vote_count_written_other_than_plain_ascii_digits_is_refused_by_file_row_column_and_value(tmp_path, cell):
    """float() read "nan" as an empty cell (a count of 0 beside the others), "1_000" as 1000 and a full-width "１" as 1:
    none of them is a count a votes table means.  Each is refused naming the file, the row, the column and the value."""
    p = tmp_path / "votes.csv"
    p.write_text(f"id,votes_angry,votes_sad\na,1,2\nb,{cell},1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        L.read_generic(p)
    text = str(info.value)
    assert f"{p}, row 2" in text and "votes_angry" in text and repr(cell) in text, text
    assert "ASCII digits" in info.value.fix and "plain digits" in text
    # the manifest's own columns: text cells (a CSV manifest) are held to the same rule, naming the item
    m = Manifest([Item(id="x", path="x.wav", meta={"votes_sad": "2", "votes_unmapped": cell})])
    with pytest.raises(ConfigError, match=r"item x.*votes_unmapped|votes_unmapped.*item x"):
        L.records_from_manifest(m)


def test_plain_counts_empty_cells_and_typed_numbers_still_read(tmp_path):
    p = tmp_path / "votes.csv"
    p.write_text("id,votes_angry,votes_sad\na, 3 ,2.0\nb,,1\n", encoding="utf-8")
    rep = L.read_generic(p)
    assert rep.records["a"]["votes_angry"] == 3 and rep.records["a"]["votes_sad"] == 2 and rep.records["b"]["votes_angry"] == 0
    # typed numbers (JSON meta, parquet, HF): IEMOCAP's split responses are fractions; a typed NaN (a null) is empty
    m = Manifest([Item(id="x", path="x.wav", meta={"votes_sad": 1.5, "votes_angry": float("nan"), "votes_happy": np.int64(1)})])
    assert L.records_from_manifest(m).records["x"]["n_raters"] == 2.5
    for flag in (True, np.bool_(True)):  # a bool is no count (float(True) was 1)
        with pytest.raises(ConfigError, match="votes_sad is .*True"):
            L.records_from_manifest(Manifest([Item(id="y", path="y.wav", meta={"votes_sad": flag})]))
