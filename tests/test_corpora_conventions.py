"""The corpus readers against the corpora's own documentation and their known irregularities, on tiny synthetic
replicas of each corpus's layout (WAVs written with soundfile).

Each test names the convention it holds the reader to: EmoBox's ``dataset`` names and the words its metadata writes
for labels, ESD's ReadMe (speakers' sex) and its text files' mixed encodings, TESS's misnamed ``OA_bite_neutral.wav``,
CREMA-D's ``1040_ITH_SAD_X.wav`` (``…_XX`` in its rating tables), and RAVDESS's audio taken from the full-AV videos
beside the audio-only files of the same takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.analysis.finetune.data import row_targets
from workbench.cli import main
from workbench.data.corpora import class_name, crema_d, esd, for_labels, import_emobox, item_class, msp_podcast, prepare
from workbench.data.listeners import read_votes
from workbench.data.manifest import read_manifest
from workbench.data.votes import attach
from workbench.errors import ConfigError


def wav(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(16000, 0.2, seed=seed), 16000, subtype="PCM_16")
    return path


def by_id(manifest):
    return {it.id: it for it in manifest}


# ---------------------------------------------------------------------------
# EmoBox: its dataset names and its label words
# ---------------------------------------------------------------------------
def emobox_fold(tmp_path: Path, dataset: str, rows: list[tuple[str, str]]) -> Path:
    """``data/<dataset>/fold_1/<dataset>_test_fold_1.jsonl`` as EmoBox writes it, with a WAV for each row."""
    jf = tmp_path / "data" / dataset / "fold_1" / f"{dataset}_test_fold_1.jsonl"
    jf.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (key, emo) in enumerate(rows):
        wav(tmp_path / "downloads" / dataset / f"{key}.wav", seed=n)
        lines.append(json.dumps({"key": f"{dataset}-{key}", "dataset": dataset, "wav": f"downloads/{dataset}/{key}.wav",
                                 "type": "raw", "sample_rate": 16000, "task": "category", "length": 0.2, "emo": emo, "channel": 1}))
    jf.write_text("\n".join(lines) + "\n")
    return jf


def test_emobox_msp_podcast_letters_get_their_emotion(tmp_path):
    """EmoBox names the corpus ``msppodcast`` (data/msppodcast/, ``"dataset": "msppodcast"``) and writes its consensus
    letters (``"emo": "N"``): every item had an empty emotion, the letters being no common emotion name."""
    jf = emobox_fold(tmp_path, "msppodcast", [("MSP-PODCAST_0001_0008", "N"), ("MSP-PODCAST_0001_0019", "H"),
                                              ("MSP-PODCAST_0001_0043", "X"), ("MSP-PODCAST_0001_0048", "O"),
                                              ("MSP-PODCAST_0001_0098", "U"), ("MSP-PODCAST_0002_0001", "C")])
    m = import_emobox([jf], root=tmp_path)
    assert [(it.label, it.emotion) for it in m] == [("N", "neutral"), ("H", "happy"), ("X", ""), ("O", "other"),
                                                    ("U", "surprised"), ("C", "")]
    assert [item_class(it) for it in m] == ["neutral", "happy", "", "other", "surprise", "contempt"]


def test_emobox_label_words_keep_their_class_under_the_corpus_labels(tmp_path):
    """EmoBox writes EmoDB's and RAVDESS's labels as words (``anger``, ``boredem``, ``Fearful``), not the file-name codes
    the corpora's class tables are keyed by: ``finetune --labels corpus`` found no class for any of them and dropped
    every row.  Now each word gets the class its code has (``happy`` is EmoDB's ``happiness``, as ``F`` is), and EmoBox's
    ``boredem`` (its EmoDB label_map.json: ``"boredem": "Boredom"``) is EmoDB's ``boredom``: it was a class of its own,
    so a head trained on EmoDB's classes gave EmoBox's boredom items no class."""
    emodb = emobox_fold(tmp_path, "emodb", [("03a01Wa", "anger"), ("03a01Fa", "happy"), ("03a02Ta", "sad"),
                                            ("03a04La", "boredem"), ("03a05Na", "Neutral"), ("03b01Aa", "fear")])
    ravdess = emobox_fold(tmp_path, "ravdess", [("03-01-06-01-02-01-12", "Fearful"), ("03-01-02-01-01-01-01", "Calm")])
    cremad = emobox_fold(tmp_path, "cremad", [("1001_DFA_ANG_XX", "ANG")])
    m = import_emobox([emodb, ravdess, cremad], root=tmp_path)
    assert [item_class(it) for it in m] == ["anger", "happiness", "sadness", "boredom", "neutral", "fear",
                                            "fearful", "calm", "anger"]
    rows = pd.DataFrame({"label": [it.label for it in m], "meta": [json.dumps(it.meta) for it in m]})
    assert list(row_targets(rows, "corpus")) == [item_class(it) for it in m]
    # a head trained on EmoDB's own classes scores EmoBox's EmoDB items in them
    head = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
    assert [it.emotion for it in for_labels(m, head)][:6] == ["anger", "happiness", "sadness", "boredom", "neutral", "fear"]
    # the corpus's own codes are named as before; no agreement is still no class
    assert class_name("emodb", "L") == "boredom" and class_name("iemocap", "xxx") == "" and class_name("msppodcast", "X") == ""


# ---------------------------------------------------------------------------
# CASIA: its two parts name the same four speakers differently
# ---------------------------------------------------------------------------
def test_casia_two_parts_name_one_speaker_twice_and_neutral_normal(tmp_path):
    """The full CASIA release: 相同文本300/liuchanhg/angry/201.wav … and 不同文本100/Chang.Liu/normal/1.wav … (the same
    four speakers under other folder names, neutral as ``normal``).  The reader made eight speakers of four, so a
    speaker-grouped split could test a person it trained on, left every ``normal`` file out as not the corpus's
    naming, and gave no speaker a sex."""
    wav(tmp_path / "相同文本300" / "liuchanhg" / "angry" / "201.wav", seed=1)
    wav(tmp_path / "相同文本300" / "ZhaoZuoxiang" / "neutral" / "201.wav", seed=2)
    wav(tmp_path / "不同文本100" / "Chang.Liu" / "normal" / "1.wav", seed=3)
    wav(tmp_path / "不同文本100" / "Zuoxiang.Zhao" / "angry" / "1.wav", seed=4)
    m = prepare("casia", tmp_path)
    got = {it.id: (it.speaker, it.gender, it.label, it.emotion, it.meta["texts"], it.meta["text_id"]) for it in m}
    assert got == {"liuchanhg_angry_201": ("liuchanhg", "female", "angry", "angry", "same-text", "201"),
                   "ZhaoZuoxiang_neutral_201": ("ZhaoZuoxiang", "male", "neutral", "neutral", "same-text", "201"),
                   "Chang.Liu_normal_1": ("liuchanhg", "female", "neutral", "neutral", "different-text", ""),
                   "Zuoxiang.Zhao_angry_1": ("ZhaoZuoxiang", "male", "angry", "angry", "different-text", "")}
    assert not m.notes


def test_casia_copy_renamed_n_emotion_speaker_keeps_its_four_speakers(tmp_path):
    """A widely shared copy (a speech-emotion project's preparation script, public code index 19092977570) moves each
    file to ``CASIA/6/<emotion>/<n>-<emotion>-<speaker>.wav``.  The reader took the folder ``6`` as the speaker: all
    four people were one speaker with no sex, unsaid.  The name's speaker is read; a name whose emotion is not its
    folder's is left out and named; a folder that is no speaker of the corpus is said in the notes."""
    wav(tmp_path / "CASIA" / "6" / "angry" / "201-angry-liuchanhg.wav", seed=1)
    wav(tmp_path / "CASIA" / "6" / "angry" / "201-angry-ZhaoZuoxiang.wav", seed=2)
    wav(tmp_path / "CASIA" / "6" / "sad" / "202-sad-wangzhe.wav", seed=3)
    wav(tmp_path / "CASIA" / "6" / "sad" / "203-happy-wangzhe.wav", seed=4)
    m = prepare("casia", tmp_path)
    got = {it.id: (it.speaker, it.gender, it.label, it.meta["text_id"]) for it in m}
    assert got == {"liuchanhg_angry_201": ("liuchanhg", "female", "angry", "201"),
                   "ZhaoZuoxiang_angry_201": ("ZhaoZuoxiang", "male", "angry", "201"),
                   "wangzhe_sad_202": ("wangzhe", "male", "sad", "202")}
    assert any(n.startswith("1 file(s) named <n>-<emotion>-<speaker> were left out") and "203-happy-wangzhe.wav" in n
               for n in m.notes)
    wav(tmp_path / "CASIA" / "wangzhe" / "fear" / "204-fear-wangzhe.wav", seed=6)  # renamed in place, not moved
    wav(tmp_path / "CASIA" / "wangzhe" / "fear" / "205-fear-liuchanhg.wav", seed=7)  # the name's speaker is not the folder's
    m = prepare("casia", tmp_path)
    assert {it.id: (it.speaker, it.meta["text_id"]) for it in m}["wangzhe_fear_204"] == ("wangzhe", "204")
    assert any(n.startswith("2 file(s) named <n>-<emotion>-<speaker> were left out") and "205-fear-liuchanhg.wav" in n for n in m.notes)
    wav(tmp_path / "other" / "angry" / "1.wav", seed=5)
    m = prepare("casia", tmp_path)
    assert any(n.startswith("1 file(s) lie under folder(s) that are none of CASIA's four speakers (other;") for n in m.notes)
    assert {it.speaker for it in m} == {"liuchanhg", "ZhaoZuoxiang", "wangzhe", "other"}


# ---------------------------------------------------------------------------
# ESD: the ReadMe's speakers, the text files' encodings
# ---------------------------------------------------------------------------
def test_esd_speakers_sex_is_the_readmes():
    """ESD's ReadMe.txt: 0001–0003, 0007, 0009 Chinese female; 0004–0006, 0008, 0010 Chinese male; 0011–0014 and
    0020 English male; 0015–0019 English female.  The reader left every item's gender empty."""
    male = {"0004", "0005", "0006", "0008", "0010", "0011", "0012", "0013", "0014", "0020"}
    assert {spk: sex for spk, (_, sex) in esd.SPEAKERS.items()} == {f"{n:04d}": "male" if f"{n:04d}" in male else "female"
                                                                    for n in range(1, 21)}


def test_esd_split_and_emotion_follow_the_utterance_numbers(tmp_path):
    """ESD numbers each speaker's utterances in blocks of 350 per emotion (Neutral, Angry, Happy, Sad, Surprise), each
    split 20 evaluation / 30 test / 300 train (``0011/Angry/evaluation/0011_000351.wav``, ``Angry/test/0011_000371``,
    ``Happy/test/0011_000721``).  A copy without the split folders (Kaggle's) had no split at all, so ``--scheme split``
    found nothing; a file in the wrong folder was read as the folder says without a word."""
    assert [esd.by_number(n) for n in ("000001", "000020", "000021", "000050", "000051", "000350")] == [
        ("neutral", "evaluation"), ("neutral", "evaluation"), ("neutral", "test"), ("neutral", "test"),
        ("neutral", "train"), ("neutral", "train")]
    assert [esd.by_number(n) for n in ("000351", "000371", "000721", "001052", "001401", "001750")] == [
        ("angry", "evaluation"), ("angry", "test"), ("happy", "test"), ("sad", "evaluation"), ("surprise", "evaluation"),
        ("surprise", "train")]
    assert esd.by_number("001751") is None and esd.by_number("000000") is None
    for n, name in enumerate(("0011_000351", "0011_000371", "0011_000401")):  # Kaggle's flattened layout
        wav(tmp_path / "0011" / "Angry" / f"{name}.wav", seed=n)
    wav(tmp_path / "0011" / "Sad" / "train" / "0011_000721.wav", seed=5)  # a Happy test number in Sad/train/
    manifest = prepare("esd", tmp_path)
    m = by_id(manifest)
    assert [m[k].split for k in ("0011_000351", "0011_000371", "0011_000401")] == ["evaluation", "test", "train"]
    assert (m["0011_000721"].label, m["0011_000721"].split) == ("Sad", "train")  # the folder's, and named
    assert any("3 without a split folder got theirs from the utterance number" in n for n in manifest.notes)
    odd = next(n for n in manifest.notes if "does not belong to" in n)
    assert odd.startswith("1 file(s)") and "0011/Sad/train/0011_000721.wav (in Sad/ but the number is in the Happy block; " \
                                               "in train/ but the number is in the test part of its block)" in odd


def test_esd_text_line_whose_id_is_followed_by_a_space(tmp_path):
    """About fifteen lines of the English speakers' files separate the id from the text by a space
    (``0015_000137 Let the glass globe be.<TAB>Surprise``; public ESD loaders patch them: Strong-AI-Lab/emotion
    ``datasets/ESD/process.py``).  The utterance got no text, and "0015_000137 Let the glass globe be." was filed as an
    id with the text "Surprise"."""
    wav(tmp_path / "0015" / "Surprise" / "0015_001538.wav", seed=1)
    wav(tmp_path / "0015" / "Neutral" / "0015_000137.wav", seed=2)
    wav(tmp_path / "0015" / "Neutral" / "0015_000138.wav", seed=3)
    (tmp_path / "0015" / "0015.txt").write_text(
        "0015_000137 Let the glass globe be.\tNeutral\n0015_000138\t\tNeutral\n"
        "0015_001538\tThe nine the eggs, I keep.\tSurprise\n", encoding="utf-8")
    m = by_id(prepare("esd", tmp_path))
    assert {k: it.text for k, it in m.items()} == {"0015_000137": "Let the glass globe be.", "0015_000138": "",
                                                   "0015_001538": "The nine the eggs, I keep."}


def test_esd_texts_in_each_of_the_distributions_encodings(tmp_path):
    """ESD's speaker files are GB2312, UTF-16 (with its mark), UTF-8 or Latin-1.  Latin-1 bytes were tried as UTF-16
    (no mark) before anything else: an even-length file read as CJK characters, an odd one gave no text at all."""
    texts = {
        "0001": ("0001_000351", "打远一看，它们的确很是美丽，", "生气", "gb2312"),
        "0003": ("0003_000351", "这是一个测试句子。", "生气", "utf-16"),
        "0011": ("0011_000351", "The nine the eggs, I keep.", "Angry", "utf-8"),
        "0016": ("0016_000351", "Café owners don't like it.", "Angry", "latin-1"),
        "0017": ("0017_000351", "A naïve façade, it's true!", "Angry", "latin-1"),
    }
    for spk, (utt, text, emo, enc) in texts.items():
        (tmp_path / spk).mkdir()
        (tmp_path / spk / f"{spk}.txt").write_bytes(f"{utt}\t{text}\t{emo}\n".encode(enc))
        wav(tmp_path / spk / "Angry" / "train" / f"{utt}.wav")
    m = by_id(prepare("esd", tmp_path))
    assert {it.speaker: it.text for it in m.values()} == {spk: text for spk, (_, text, _, _) in texts.items()}
    assert {it.speaker: it.gender for it in m.values()} == {"0001": "female", "0003": "female", "0011": "male",
                                                            "0016": "female", "0017": "female"}
    # UTF-16 written without its mark is still read as UTF-16
    assert esd.decode_text("0012_000001\tHello.\tNeutral\n".encode("utf-16-le"), "0012") == "0012_000001\tHello.\tNeutral\n"


def test_esd_mandarin_transcripts_in_utf16_without_a_mark_are_read_and_a_binary_one_is_named_with_its_byte(tmp_path):
    """UTF-16 without a byte-order mark was taken only when NUL bytes filled half the code units of the whole file: a
    Mandarin line of 14 characters has 14 ASCII units (id, tabs, newline) of 30, so the speaker's file read as nothing
    and every text of that speaker was empty ('no encoding the corpus uses reads it').  Now NULs at one parity, 4 to 1,
    on 1 unit in 16 of the first 4 kB, and a whole that decodes, say UTF-16; the file that is none is named with its byte."""
    line = ("打远一看，它们的确很是美丽，", "生气")  # 一 is U+4E00: a NUL byte at the *other* parity too
    texts = {"0001": "utf-16-le", "0002": "utf-16-be", "0003": "utf-8", "0004": "gb18030", "0005": "utf-16",
             "0011": "utf-16-be", "0012": "utf-8", "0013": "latin-1"}
    for spk, enc in texts.items():
        words = line if int(spk) <= 10 else ("Café, naïve façade.", "Angry")
        (tmp_path / spk).mkdir()
        (tmp_path / spk / f"{spk}.txt").write_bytes(f"{spk}_000351\t{words[0]}\t{words[1]}\n".encode(enc))
        wav(tmp_path / spk / "Angry" / "train" / f"{spk}_000351.wav")
    (tmp_path / "0006").mkdir()
    (tmp_path / "0006" / "0006.txt").write_bytes(b"\x00\x01\x02\x00\x00\x00\x10\x00\x00\x20" * 40)  # NULs at both parities
    wav(tmp_path / "0006" / "Angry" / "train" / "0006_000351.wav")
    m = prepare("esd", tmp_path)
    got = {it.speaker: it.text for it in m}
    want = {spk: "打远一看，它们的确很是美丽，" if int(spk) <= 10 else "Café, naïve façade." for spk in texts}
    assert got == {**want, "0006": ""}
    (note,) = [n for n in m.notes if "0006/0006.txt" in n]
    assert "byte 0" in note and "NUL" in note and "iconv -f UTF-16LE -t UTF-8 '0006.txt'" in note
    sentence = "打远一看，它们的确很是美丽，这是一个测试句子。我们明天去公园散步吧！"
    for n in (6, 14, 25, 34):  # ESD's Mandarin lines run from about 6 to 25 characters
        for enc in ("utf-16-le", "utf-16-be"):
            text = "".join(f"0007_{k:06d}\t{sentence[:n]}\t生气\r\n" for k in range(1, 351))
            assert esd.decode_text(text.encode(enc), "0007") == text, (n, enc)


# ---------------------------------------------------------------------------
# TESS: the misnamed OA_bite_neutral.wav
# ---------------------------------------------------------------------------
def test_tess_reads_oafs_misnamed_file_as_hers(tmp_path):
    """TESS ships ``OAF_neutral/OA_bite_neutral.wav`` (the speaker field lacks its F): it was skipped as not TESS's
    naming, one of the corpus's 2,800 files lost without a word in the manifest."""
    wav(tmp_path / "OAF_neutral" / "OA_bite_neutral.wav")
    wav(tmp_path / "OAF_neutral" / "OAF_back_neutral.wav", seed=1)
    m = by_id(prepare("tess", tmp_path))
    bite = m["OA_bite_neutral"]
    assert (bite.speaker, bite.gender, bite.emotion, bite.text, bite.meta["age"]) == ("OAF", "female", "neutral",
                                                                                      "Say the word bite", 64)


# ---------------------------------------------------------------------------
# CREMA-D: 1040_ITH_SAD_X.wav
# ---------------------------------------------------------------------------
def test_crema_d_clip_whose_level_lost_an_x_gets_its_ratings(tmp_path):
    """The distribution's file ``1040_ITH_SAD_X.wav`` is ``1040_ITH_SAD_XX`` in the corpus's rating tables: its id was
    the file's stem, so its listener votes never attached."""
    wav(tmp_path / "AudioWAV" / "1040_ITH_SAD_X.wav")
    wav(tmp_path / "AudioWAV" / "1040_ITH_ANG_XX.wav", seed=1)
    m = prepare("crema-d", tmp_path)
    item = by_id(m)["1040_ITH_SAD_XX"]
    assert (item.path, item.meta["level"], item.emotion) == ("AudioWAV/1040_ITH_SAD_X.wav", "unspecified", "sad")
    votes = tmp_path / "processedResults" / "tabulatedVotes.csv"
    votes.parent.mkdir()
    votes.write_text(",A,D,F,H,N,S,fileName,numResponses,agreement,emoVote,meanEmoResp\n"
                     "100001,0,0,0,0,1,9,1040_ITH_SAD_XX,10,0.9,S,50\n"
                     "100002,8,0,0,0,2,0,1040_ITH_ANG_XX,10,0.8,A,50\n")
    assert attach(m, read_votes("crema-d-tabulated", votes)).n_attached == 2
    assert by_id(m)["1040_ITH_SAD_XX"].meta["listener_majority"] == "sad"
    assert crema_d.parse_name("1040_ITH_SAD_X").clip == "1040_ITH_SAD_XX"


def test_crema_d_wav_the_readme_says_has_no_audio_is_left_out_and_named(tmp_path):
    """The CREMA-D README's "Audio Files" notes: ``1076_MTI_SAD_XX.mp3/wav - no audio, very short`` (and
    ``1076_MTI_NEU_XX.mp3 … (WAV file is fine)``): the silent WAV was an item labelled sad and scored as one."""
    for n, name in enumerate(["1076_MTI_SAD_XX", "1076_MTI_NEU_XX", "1064_TIE_SAD_XX"]):
        wav(tmp_path / "AudioWAV" / f"{name}.wav", seed=n)
    m = prepare("crema-d", tmp_path)
    assert sorted(by_id(m)) == ["1064_TIE_SAD_XX", "1076_MTI_NEU_XX"]
    note = next(n for n in m.notes if "1076_MTI_SAD_XX" in n)
    assert "AudioWAV/1076_MTI_SAD_XX.wav (no audio, very short)" in note and "README" in note
    for other in ("1076_MTI_NEU_XX", "1064_TIE_SAD_XX"):
        (tmp_path / "AudioWAV" / f"{other}.wav").unlink()
    with pytest.raises(ConfigError, match="README says hold no usable audio"):
        prepare("crema-d", tmp_path)


# ---------------------------------------------------------------------------
# RAVDESS: audio taken from the full-AV videos beside the audio-only files
# ---------------------------------------------------------------------------
def test_ravdess_full_av_audio_of_a_take_already_there_as_audio_only_is_left_out(tmp_path):
    """The README's audio-only (03) files are the recordings' audio; audio extracted from the full-AV (01) videos of the
    same takes, unpacked beside them, was read as a second item of each take."""
    wav(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")
    wav(tmp_path / "Video_Speech_Actor_01" / "Actor_01" / "01-01-05-01-01-01-01.wav", seed=1)  # the same take
    wav(tmp_path / "Video_Speech_Actor_01" / "Actor_01" / "01-01-05-01-01-02-01.wav", seed=2)  # only as full-AV
    m = prepare("ravdess", tmp_path)
    assert sorted(it.id for it in m) == ["01-01-05-01-01-02-01", "03-01-05-01-01-01-01"]
    assert any(n.startswith("1 full-AV (01) files left out") and "01-01-05-01-01-01-01.wav (= 03-01-05-01-01-01-01)" in n
               for n in m.notes)
    assert np.all([it.meta["modality"] in ("full-AV", "audio-only") for it in m])



def test_ravdess_song_file_of_actor_18_is_not_read_as_the_corpus_s(tmp_path):
    """The README: "there are no song files for Actor_18" (the song set: 44 files × 23 actors = 1,012).  A song-named
    file of actor 18 (another corpus's, or a renamed one) was read as a RAVDESS song by a female actor."""
    wav(tmp_path / "Actor_18" / "03-02-03-01-01-01-18.wav")
    wav(tmp_path / "Actor_18" / "03-01-03-01-01-01-18.wav", seed=1)  # speech: actor 18 has it
    wav(tmp_path / "Actor_17" / "03-02-03-01-01-01-17.wav", seed=2)
    m = prepare("ravdess", tmp_path, channel="both")
    assert sorted(it.id for it in m) == ["03-01-03-01-01-01-18", "03-02-03-01-01-01-17"]
    assert any("1 files skipped" in n and "Actor_18/03-02-03-01-01-01-18.wav (song (02) by actor 18: the README says there "
               "are no song files for Actor_18)" in n for n in m.notes)

# ---------------------------------------------------------------------------
# IEMOCAP: the 4-class protocol
# ---------------------------------------------------------------------------
def iemocap_replica(root: Path) -> Path:
    """``IEMOCAP_full_release/Session5``: a scripted dialog (``…_script01_1b``), every summary-line code the corpus writes
    among its turns, the evaluators' lines, and an ``EmoEvaluation/Categorical/`` file that is not a dialog's."""
    top = root / "IEMOCAP_full_release"
    s5 = top / "Session5"
    ev = s5 / "dialog" / "EmoEvaluation"
    (ev / "Categorical").mkdir(parents=True)
    (ev / "Categorical" / "Ses05M_script01_1b_e1_cat.txt").write_text("Ses05M_script01_1b_F000 :Neutral state; ()\n")
    codes = ["neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx"]
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for n, code in enumerate(codes):
        utt = f"Ses05M_script01_1b_{'FM'[n % 2]}{n:03d}"
        lines += [f"[{n}.0000 - {n}.9000]\t{utt}\t{code}\t[2.5000, 3.0000, 3.5000]", "C-E1:\tNeutral state;\t()", ""]
        wav(s5 / "sentences" / "wav" / "Ses05M_script01_1b" / f"{utt}.wav", seed=n)
    (ev / "Ses05M_script01_1b.txt").write_text("\n".join(lines))
    return top


def test_iemocap_four_class_protocol(tmp_path):
    """The common IEMOCAP protocol has four classes: neutral, happy (happiness and excited merged), sad and angry; the
    other categories (frustration, surprise, fear, disgust, other) and ``xxx`` (no majority) are left out.  The reader
    gave surprise, fear, disgust and other their counterparts among the nine with no way to ask for the four."""
    top = iemocap_replica(tmp_path)
    every = {it.label: it.emotion for it in prepare("iemocap", top)}
    assert every == {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry", "fru": "",
                     "sur": "surprised", "fea": "fearful", "dis": "disgusted", "oth": "other", "xxx": ""}
    m = prepare("iemocap", top, classes="four")
    assert {it.label: it.emotion for it in m} == {**{code: "" for code in every},
                                                 "neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
    assert "4-class protocol (--classes four): 5 turns" in m.notes[-1] and "oth 1" in m.notes[-1] and "xxx 1" in m.notes[-1]
    it = by_id(m)["Ses05M_script01_1b_M001"]
    assert (it.speaker, it.gender, it.split, it.meta["dialog"], it.meta["improvised"]) == ("Ses05M", "male", "Session5",
                                                                                          "Ses05M_script01_1b", False)
    with pytest.raises(ConfigError, match="unknown IEMOCAP class set 'five'"):
        prepare("iemocap", top, classes="five")
    with pytest.raises(ConfigError, match="takes no option --classes"):
        prepare("emodb", top, classes="four")


def test_iemocap_four_classes_from_the_command_line(tmp_path):
    top = iemocap_replica(tmp_path)
    assert main(["datasets", "prepare", "iemocap", str(top), "--classes", "four", "--out", str(tmp_path / "i.csv")]) == 0
    assert sorted(e for e in read_manifest(tmp_path / "i.csv").to_frame()["emotion"] if e) == [
        "angry", "happy", "happy", "neutral", "sad"]


def test_prepare_says_each_note_once(tmp_path, capsys):
    """A turn without audio was said twice on the screen: 'warning: iemocap: 1 turn(s) … left out' as the reader logged
    it, then 'note: 1 turn(s) … left out' from the manifest's notes."""
    top = iemocap_replica(tmp_path)
    (top / "Session5" / "sentences" / "wav" / "Ses05M_script01_1b" / "Ses05M_script01_1b_F000.wav").unlink()
    assert main(["datasets", "prepare", "iemocap", str(top), "--classes", "four", "--out", str(tmp_path / "i.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("have no audio file") == 1 and err.count("4-class protocol (--classes four)") == 1, err


# ---------------------------------------------------------------------------
# downstream: a run of a head trained on a corpus's own classes
# ---------------------------------------------------------------------------
def test_lhotse_export_of_a_run_scored_over_a_heads_own_classes(tmp_path):
    """A run of a head trained on EmoDB's own classes has ``score_anger`` … ``score_boredom``, not the nine: the lhotse
    export read the nine score columns by name and failed with a KeyError on ``score_angry``."""
    pytest.importorskip("lhotse")
    from workbench.analysis.finetune import write_checkpoint
    from workbench.model.checkpoints import RANDOM_MARKER, ensure_random_checkpoint
    from workbench.runs.driver import run
    from workbench.runs.lhotse_export import export_lhotse

    classes = ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]
    parent = ensure_random_checkpoint("tiny")
    rng = np.random.default_rng(0)
    card = {"warning": json.loads((parent / RANDOM_MARKER).read_text(encoding="utf-8"))["warning"], "labels": {"classes": classes}}
    head = write_checkpoint(tmp_path / "head", parent, classes, rng.standard_normal((7, 32)), rng.standard_normal(7), card)
    for n, name in enumerate(["03a01Wa", "08a01La"]):
        wav(tmp_path / "emodb" / "wav" / f"{name}.wav", seed=n)
    run(prepare("emodb", tmp_path / "emodb"), out_dir=tmp_path / "run", model=str(head), use_cache=False)
    out = export_lhotse(tmp_path / "run", tmp_path / "sup.jsonl")
    assert out.written == 2
    segments = [json.loads(line) for line in (tmp_path / "sup.jsonl").read_text().splitlines()]
    assert [sorted(s["custom"]["emotion_scores"]) for s in segments] == [sorted(classes)] * 2
    assert [s["custom"]["reference_emotion"] for s in segments] == ["anger", "boredom"]


def test_iemocap_read_from_the_folder_the_release_was_unpacked_into(tmp_path):
    """IEMOCAP's release unpacks into ``IEMOCAP_full_release/SessionN``: given the folder it was unpacked into, the
    reader found no session and refused the corpus ("no iemocap audio files")."""
    iemocap_replica(tmp_path)
    m = prepare("iemocap", tmp_path)
    assert len(m) == 11 and all(it.path.startswith("IEMOCAP_full_release/Session5/sentences/wav/") for it in m)


def test_emobox_items_take_the_votes_the_corpus_files_name_by_the_audio_file(tmp_path):
    """EmoBox keys an item ``iemocap-Ses01F_impro04_F000`` (``cremad-1087-IWL-ANG-XX``, CREMA-D's ``_`` written ``-``)
    and its wav is the corpus's own file: the corpus's listener files name the item by that file's name, so votes read
    for an EmoBox manifest attached to no item at all (import-votes refused: "no manifest id matches")."""
    jf = tmp_path / "data" / "iemocap" / "fold_1" / "iemocap_test_fold_1.jsonl"
    jf.parent.mkdir(parents=True)
    wav_rel = "downloads/iemocap/Session1/sentences/wav/Ses01F_impro04/Ses01F_impro04_F000.wav"
    wav(tmp_path / wav_rel)
    jf.write_text(json.dumps({"key": "iemocap-Ses01F_impro04_F000", "dataset": "iemocap", "wav": wav_rel, "type": "raw",
                              "sample_rate": 16000, "num_frame": 3200.0, "task": "category", "length": 0.2, "emo": "neu",
                              "channel": 1}) + "\n")
    ev = tmp_path / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro04.txt"
    ev.parent.mkdir(parents=True)
    ev.write_text("[6.2901 - 8.2357]\tSes01F_impro04_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
                  "C-E2:\tNeutral state;\t()\nC-E3:\tNeutral state;\t()\nC-E4:\tFrustration;\t()\n", encoding="utf-8")
    m = import_emobox([jf], root=tmp_path)
    assert m.items[0].id == "iemocap-Ses01F_impro04_F000" and m.items[0].meta["corpus_id"] == "Ses01F_impro04_F000"
    out = attach(m, read_votes("iemocap", ev))
    assert (out.n_attached, out.n_records_not_in_manifest) == (1, 0)
    assert m.items[0].meta["votes_neutral"] == 2 and m.items[0].meta["n_raters"] == 3


def test_emobox_own_label_map_json_is_read_as_distributed(tmp_path):
    """EmoBox ships data/<dataset>/label_map.json mapping its labels onto its classes (EmoDB ``"boredem": "Boredom"``,
    IEMOCAP ``"exc": "Happy"``, MSP-Podcast ``"X": "No-agreement"``): passing it as --label-map was refused, 'Boredom'
    being no emotion.  Its classes without a counterpart now map to none; a value that is no class at all is still refused."""
    emodb = emobox_fold(tmp_path, "emodb", [("03a01Wa", "anger"), ("03a04La", "boredem"), ("03a05Na", "Neutral")])
    lm = tmp_path / "label_map.json"
    lm.write_text(json.dumps({"anger": "Angry", "boredem": "Boredom", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
                              "Neutral": "Neutral", "sad": "Sad"}, indent=4))
    m = import_emobox([emodb], root=tmp_path, label_map=lm)
    assert [(it.label, it.emotion) for it in m] == [("anger", "angry"), ("boredem", ""), ("Neutral", "neutral")]
    msp = tmp_path / "msp_label_map.json"
    msp.write_text(json.dumps({"U": "Surprise", "F": "Fear", "D": "Disgust", "A": "Angry", "S": "Sad", "X": "No-agreement",
                               "C": "Contempt", "N": "Neutral", "O": "Other", "H": "Happy"}))
    assert len(import_emobox([emodb], root=tmp_path, label_map=msp)) == 3
    lm.write_text(json.dumps({"boredem": "Boredum"}))
    with pytest.raises(ConfigError, match="'boredem': 'Boredum'"):
        import_emobox([emodb], root=tmp_path, label_map=lm)


def test_emobox_folds_that_share_speakers_between_train_and_test_are_named(tmp_path):
    """EmoBox's EmoDB folds (5) each hold all 10 speakers in test and in train, its CREMA-D and TESS fold all speakers on
    both sides (data/emodb/fold_1/emodb_test_fold_1.jsonl …); the reader called every EmoBox fold speaker-independent."""
    emodb = emobox_fold(tmp_path, "emodb", [("03a01Wa", "anger"), ("08a01Fa", "happy")])
    notes = import_emobox([emodb], root=tmp_path).notes
    assert any("EmoBox's emodb folds are not split by speaker" in n for n in notes)
    ravdess = emobox_fold(tmp_path, "ravdess", [("03-01-06-01-02-01-12", "Fearful")])
    assert not any("not split by speaker" in n for n in import_emobox([ravdess], root=tmp_path).notes)


# ---------------------------------------------------------------------------
# MSP-Podcast: the consensus table as the releases also ship it, JSON
# ---------------------------------------------------------------------------
MSP_JSON = ('{"MSP-PODCAST_0001_0008.wav": {"EmoClass": "A", "EmoAct": 5.2, "EmoVal": 2.4, "EmoDom": 4.6, "SpkrID": 127, '
            '"Gender": "Male", "Split_Set": "Train"},\n'
            ' "MSP-PODCAST_0002_0003.wav": {"EmoClass": "N", "EmoAct": 3.0, "EmoVal": 4.0, "EmoDom": 4.0, "SpkrID": "Unknown", '
            '"Gender": "Female", "Split_Set": "Development"}}\n')


def test_msp_podcast_consensus_given_as_json_is_read(tmp_path):
    """Releases ship ``Labels/labels_consensus.json`` (file name → EmoClass, EmoAct … Split_Set; public readers of 1.11
    and 1.12 take it): a folder holding it and no CSV was refused as having no labels."""
    wav(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav")
    wav(tmp_path / "Audios" / "MSP-PODCAST_0002_0003.wav", seed=1)
    (tmp_path / "Labels").mkdir()
    (tmp_path / "Labels" / "labels_consensus.json").write_text(MSP_JSON)
    items = by_id(prepare("msp-podcast", tmp_path))
    a, n = items["MSP-PODCAST_0001_0008"], items["MSP-PODCAST_0002_0003"]
    assert (a.label, a.emotion, a.split, a.speaker, a.gender) == ("A", "angry", "Train", "msp_127", "male")
    assert (a.meta["act"], a.meta["val"], a.meta["dom"]) == (5.2, 2.4, 4.6)
    assert (n.label, n.split, n.speaker, n.gender) == ("N", "Development", "", "female")


def test_msp_podcast_consensus_json_naming_a_file_twice_is_refused(tmp_path):
    wav(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav")
    (tmp_path / "Labels").mkdir()
    (tmp_path / "Labels" / "labels_consensus.json").write_text(
        '{"MSP-PODCAST_0001_0008.wav": {"EmoClass": "A", "Split_Set": "Train"},'
        ' "MSP-PODCAST_0001_0008.wav": {"EmoClass": "N", "Split_Set": "Test1"}}')
    with pytest.raises(ConfigError, match="names 'MSP-PODCAST_0001_0008.wav' twice"):
        prepare("msp-podcast", tmp_path)


def test_msp_podcast_two_audio_files_of_one_name_are_one_item_or_refused(tmp_path):
    """Two files of one segment's name in different folders (a release unpacked beside another): the reader kept the
    last one found, silently.  A byte-identical copy is now left out with a note; two different recordings are refused."""
    import shutil

    wav(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav")
    wav(tmp_path / "Audios" / "MSP-PODCAST_0002_0003.wav", seed=1)
    (tmp_path / "Labels").mkdir()
    (tmp_path / "Labels" / "labels_consensus.json").write_text(MSP_JSON)
    (tmp_path / "old" / "Audios").mkdir(parents=True)
    shutil.copy(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav", tmp_path / "old" / "Audios")
    manifest = prepare("msp-podcast", tmp_path)
    assert by_id(manifest)["MSP-PODCAST_0001_0008"].path == "Audios/MSP-PODCAST_0001_0008.wav" and len(manifest.items) == 2
    assert any("byte-identical second copies" in n and "old/Audios/MSP-PODCAST_0001_0008.wav" in n for n in manifest.notes)
    wav(tmp_path / "old" / "Audios" / "MSP-PODCAST_0001_0008.wav", seed=5)  # another recording under the same name
    with pytest.raises(ConfigError, match="two different msp-podcast files carry the same name"):
        prepare("msp-podcast", tmp_path)


def test_msp_podcast_votes_take_the_consensus_json(tmp_path):
    (tmp_path / "labels_detailed.csv").write_text("FileName,EmoClass_Major,EmoAct,EmoVal,EmoDom\n"
                                                  "MSP-PODCAST_0001_0008.wav,Angry,5,2,4\n"
                                                  "MSP-PODCAST_0001_0008.wav,Angry,6,3,5\n")
    (tmp_path / "labels_consensus.json").write_text(MSP_JSON)
    report = read_votes("msp-podcast", tmp_path / "labels_detailed.csv", consensus=tmp_path / "labels_consensus.json")
    rec = report.records["MSP-PODCAST_0001_0008"]
    assert rec["msp_consensus_class"] == "A" and rec["msp_consensus_act"] == 5.2


def test_msp_podcast_votes_refuse_a_consensus_naming_one_segment_twice(tmp_path):
    """`x.wav` and `x.WAV` in the consensus table are one segment: the last row's class silently replaced the first's."""
    (tmp_path / "labels_detailed.csv").write_text("FileName,EmoClass_Major,EmoAct,EmoVal,EmoDom\n"
                                                  "MSP-PODCAST_0001_0008.wav,Angry,5,2,4\n")
    (tmp_path / "labels_consensus.csv").write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                                                   "MSP-PODCAST_0001_0008.wav,A,5,2,4,12,Male,Train\n"
                                                   "MSP-PODCAST_0001_0008.WAV,S,2,2,2,12,Male,Train\n")
    with pytest.raises(ConfigError, match="names one segment twice"):
        read_votes("msp-podcast", tmp_path / "labels_detailed.csv", consensus=tmp_path / "labels_consensus.csv")


def test_msp_podcast_votes_read_labels_detailed_json(tmp_path):
    """Releases ship ``labels_detailed.json`` (file name → worker → EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, EmoDom;
    public readers of 1.6 and of 2.0 take it): it was read as CSV and refused for lacking a FileName column."""
    (tmp_path / "labels_detailed.json").write_text(
        '{"MSP-PODCAST_0001_0008.wav": {"WORKER00001": {"EmoClass_Major": "Angry", "EmoClass_Second": "Frustrated", '
        '"EmoAct": "5.0", "EmoVal": "2.0", "EmoDom": "4.0"},\n'
        ' "WORKER00002": {"EmoClass_Major": "Other-Annoyed", "EmoClass_Second": "", "EmoAct": 6, "EmoVal": 3, "EmoDom": 5},\n'
        ' "WORKER00003": {"EmoClass_Major": "Contempt", "EmoClass_Second": "", "EmoAct": 4, "EmoVal": 1, "EmoDom": 3}}}\n')
    rec = read_votes("msp-podcast", tmp_path / "labels_detailed.json").records["MSP-PODCAST_0001_0008"]
    assert (rec["votes_angry"], rec["votes_other"], rec["votes_unmapped"], rec["n_raters"]) == (1, 1, 1, 3)
    assert rec["msp_act_mean"] == 5.0 and rec["msp_val_mean"] == 2.0


def test_msp_podcast_labels_detailed_json_naming_a_worker_twice_for_a_file_is_refused(tmp_path):
    (tmp_path / "labels_detailed.json").write_text(
        '{"MSP-PODCAST_0001_0008.wav": {"WORKER00001": {"EmoClass_Major": "Angry"}, "WORKER00001": {"EmoClass_Major": "Sad"}}}')
    with pytest.raises(ConfigError, match="names 'WORKER00001' twice"):
        read_votes("msp-podcast", tmp_path / "labels_detailed.json")


# ---------------------------------------------------------------------------
# MSP-Podcast's JSON labels files given by someone else (hostile15)
# ---------------------------------------------------------------------------
def _json_labels(tmp_path, text: str, name: str = "labels_consensus.json") -> Path:
    (tmp_path / "Labels").mkdir(exist_ok=True)
    (tmp_path / "Labels" / name).write_text(text)
    return tmp_path / "Labels" / name


@pytest.mark.parametrize("text, said", [
    ('{"a.wav": {"EmoClass": ' + "[" * 100_000 + "]" * 100_000 + "}}", "nests deeper than a JSON reader goes"),
    ('{"a.wav": {"EmoClass": "A", "EmoAct": NaN, "EmoVal": Infinity}}', "holds Infinity and NaN (2 time(s)), which JSON has no number for"),
    ('{"a.wav": {"EmoClass": "A", "Split_Set": ["Train"]}}', "gives Split_Set of 'a.wav' as a list"),
    ('{"a.wav": {"EmoClass": "A", "EmoAct": true}}', "gives EmoAct of 'a.wav' as true"),
    ('{"../x.wav": {"EmoClass": "A"}}', "is keyed by 1 name(s) that are no file name (first: '../x.wav')"),
    ('{"a.wav": {"EmoClass": "' + "A" * 10_001 + '"}}', "has a key or text of more than 10,000 characters"),
])
def test_msp_podcast_consensus_json_hostile_forms_are_refused_naming_the_file(tmp_path, text, said):
    """A 10^5-deep file ended in 'unexpected RecursionError'; NaN/Infinity, a list, true, a path as the key and a
    20,000-character cell were read as text ('nan', "['Train']", 'True')."""
    p = _json_labels(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        msp_podcast.consensus_rows(p)
    assert said in str(err.value) and str(p) in str(err.value)


def test_msp_podcast_detailed_json_infinity_is_refused_not_a_mean(tmp_path):
    p = _json_labels(tmp_path, '{"a.wav": {"W1": {"EmoClass_Major": "Angry", "EmoAct": Infinity}}}', "labels_detailed.json")
    with pytest.raises(ConfigError, match="holds Infinity"):
        read_votes("msp-podcast", p)  # msp_act_mean was inf


def test_msp_podcast_consensus_json_speaker_12_and_12_0_are_one_speaker(tmp_path):
    wav(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav")
    wav(tmp_path / "Audios" / "MSP-PODCAST_0002_0003.wav", seed=1)
    _json_labels(tmp_path, '{"MSP-PODCAST_0001_0008.wav": {"EmoClass": "A", "SpkrID": 12},'
                           ' "MSP-PODCAST_0002_0003.wav": {"EmoClass": "N", "SpkrID": 12.0}}')
    items = by_id(prepare("msp-podcast", tmp_path))
    assert items["MSP-PODCAST_0001_0008"].speaker == items["MSP-PODCAST_0002_0003"].speaker == "msp_12"  # was msp_12.0


def test_msp_podcast_json_with_more_objects_than_a_table_has_rows_is_refused_before_parsing(tmp_path, monkeypatch):
    """14 million entries in 450 MB took 5.5 GB to parse: the objects are counted in the bytes first (the bound is
    lowered here to keep the file small)."""
    monkeypatch.setattr(msp_podcast, "JSON_MAX_OBJECTS", 10)
    p = _json_labels(tmp_path, "{" + ",".join(f'"{i}.wav": {{"EmoClass": "A"}}' for i in range(20)) + "}")
    monkeypatch.setattr(msp_podcast.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(ConfigError, match="holds 21 objects and 40 values; the cap for a labels file is 10"):
        msp_podcast.consensus_rows(p)


def test_msp_podcast_ratings_off_the_1_to_7_scale_are_left_out_of_the_means_and_said(tmp_path):
    """A rating of 1e308 made the file's msp_act_mean 5e307 and 'inf' an infinite msp_val_mean, silently (hostile15)."""
    (tmp_path / "labels_detailed.csv").write_text("FileName,EmoClass_Major,EmoAct,EmoVal,EmoDom\n"
                                                  "MSP-PODCAST_0001_0008.wav,Angry,5,2,4\n"
                                                  "MSP-PODCAST_0001_0008.wav,Angry,1e308,inf,\n")
    report = read_votes("msp-podcast", tmp_path / "labels_detailed.csv")
    rec = report.records["MSP-PODCAST_0001_0008"]
    assert (rec["msp_act_mean"], rec["msp_val_mean"], rec["msp_dom_mean"]) == (5.0, 2.0, 4.0)
    assert "2 rating(s) off the corpus's 1–7 scale (or not numbers) were left out of the means" in report.summary()


def test_msp_podcast_detailed_json_naming_one_segment_under_two_keys_is_refused(tmp_path):
    """'x.wav' and 'x.WAV' (or 'x') are two keys of one segment: their raters were pooled into one record (hostile15)."""
    p = _json_labels(tmp_path, '{"MSP-PODCAST_0001_0008.wav": {"W1": {"EmoClass_Major": "Angry"}},'
                               ' "MSP-PODCAST_0001_0008.WAV": {"W1": {"EmoClass_Major": "Sad"}}}', "labels_detailed.json")
    with pytest.raises(ConfigError, match="names one segment twice, as 'MSP-PODCAST_0001_0008.wav' and 'MSP-PODCAST_0001_0008.WAV'"):
        read_votes("msp-podcast", p)


# ---------------------------------------------------------------------------
# IEMOCAP: a turn's speaker letter, its audio file's extension as a copy writes it
# ---------------------------------------------------------------------------
def _iemocap_session(root: Path, turns: list[tuple[str, str]], ext: dict[str, str]) -> Path:
    """``root/IEMOCAP_full_release/Session5`` with one scripted dialog's EmoEvaluation file and each turn's audio."""
    sess = root / "IEMOCAP_full_release" / "Session5"
    ev = sess / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses05F_script01_1.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        + "".join(f"[{2 * i}.0100 - {2 * i + 1}.3925]\t{turn}\t{code}\t[3.5000, 3.5000, 3.0000]\nC-E2:\tOther;\t()\n\n"
                  for i, (turn, code) in enumerate(turns)))
    for i, (turn, _) in enumerate(turns):
        wav(sess / "sentences" / "wav" / "Ses05F_script01_1" / f"{turn}{ext.get(turn, '.wav')}", seed=i)
    return sess


def test_iemocap_turn_whose_last_part_names_no_speaker_is_not_read_as_male(tmp_path):
    """The turn's last part starts with its speaker's letter (``Ses05F_script01_1_M001`` is the session-5 man's).  A name
    whose last part starts with another letter (``…_X002``) was read as a male turn of a speaker ``Ses05X``: it is a
    summary line not read, counted and shown, as a renamed turn is; ``oth`` and ``sur`` of a scripted dialog keep their classes."""
    _iemocap_session(tmp_path, [("Ses05F_script01_1_F000", "oth"), ("Ses05F_script01_1_M001", "sur"),
                                ("Ses05F_script01_1_X002", "ang")], {})
    m = prepare("iemocap", tmp_path)
    got = {it.id: (it.label, it.emotion, it.speaker, it.gender, it.split, it.meta["improvised"]) for it in m}
    assert got == {"Ses05F_script01_1_F000": ("oth", "other", "Ses05F", "female", "Session5", False),
                   "Ses05F_script01_1_M001": ("sur", "surprised", "Ses05M", "male", "Session5", False)}
    assert any(n.startswith("1 summary line(s) not read") and "Ses05F_script01_1_X002" in n for n in m.notes)


def test_iemocap_turn_audio_with_an_upper_case_extension_is_found(tmp_path):
    """A copy whose files end ``.WAV``: the reader looked for ``<turn>.wav`` only and left each such turn out as having
    no audio file; the AppleDouble ``._<turn>.wav`` beside a turn is still no audio."""
    sess = _iemocap_session(tmp_path, [("Ses05F_script01_1_F000", "neu"), ("Ses05F_script01_1_M001", "ang")],
                            {"Ses05F_script01_1_M001": ".WAV"})
    (sess / "sentences" / "wav" / "Ses05F_script01_1" / "._Ses05F_script01_1_F000.wav").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    m = prepare("iemocap", tmp_path)
    assert {it.id: it.path for it in m} == {
        "Ses05F_script01_1_F000": "IEMOCAP_full_release/Session5/sentences/wav/Ses05F_script01_1/Ses05F_script01_1_F000.wav",
        "Ses05F_script01_1_M001": "IEMOCAP_full_release/Session5/sentences/wav/Ses05F_script01_1/Ses05F_script01_1_M001.WAV"}
    assert not any("no audio file" in n for n in m.notes)


# ---------------------------------------------------------------------------
# TESS: one folder per speaker and emotion
# ---------------------------------------------------------------------------
def test_tess_file_in_a_folder_of_another_speaker_or_emotion_is_named(tmp_path):
    """TESS keeps one folder per speaker and emotion (``OAF_angry/``, ``YAF_pleasant_surprised/``, ``OAF_Pleasant_surprise/``).
    A file whose folder says another speaker or emotion than its name (moved, or renamed) was read by its name alone,
    without a word: the manifest keeps the name's label and the note names the file with both; the misnamed
    ``OAF_neutral/OA_bite_neutral.wav`` and the folders' spellings of pleasant surprise agree with their files."""
    top = tmp_path / "TESS Toronto emotional speech set data"
    for i, path in enumerate(["OAF_angry/OAF_back_angry.wav", "OAF_neutral/OA_bite_neutral.wav", "OAF_Pleasant_surprise/OAF_back_ps.wav",
                              "YAF_pleasant_surprised/YAF_back_ps.wav", "YAF_fear/OAF_bar_fear.wav", "OAF_Sad/OAF_base_angry.wav"]):
        wav(top / path, seed=i)
    m = prepare("tess", tmp_path)
    assert {it.id: (it.speaker, it.label) for it in m}["OAF_bar_fear"] == ("OAF", "fear")
    note = next(n for n in m.notes if "lie in a folder whose speaker or emotion" in n)
    assert note.startswith("2 file(s)")
    assert "YAF_fear/OAF_bar_fear.wav (folder: speaker YAF, name OAF)" in note
    assert "OAF_Sad/OAF_base_angry.wav (folder: emotion sad, name angry)" in note


def test_ravdess_and_esd_file_in_another_speakers_folder_is_named(tmp_path):
    """RAVDESS keeps each actor's files in ``Actor_NN/`` and ESD each speaker's in ``NNNN/``; both name the speaker in
    the file name too.  A file in another speaker's folder was read by its name without a word (its sex, for RAVDESS,
    the parity of the name's actor): the name's speaker is kept and the file is named with the folder's."""
    wav(tmp_path / "rav" / "Actor_01" / "03-01-05-01-01-01-01.wav", seed=1)
    wav(tmp_path / "rav" / "Actor_01" / "03-01-05-01-01-01-02.wav", seed=2)
    m = prepare("ravdess", tmp_path / "rav")
    assert {it.id: (it.speaker, it.gender) for it in m}["03-01-05-01-01-01-02"] == ("Actor_02", "female")
    assert any(n.startswith("1 file(s) lie in another actor's folder") and
               "Actor_01/03-01-05-01-01-01-02.wav (folder Actor_01, name actor 02)" in n for n in m.notes)
    wav(tmp_path / "esd" / "0011" / "Angry" / "train" / "0011_000400.wav", seed=3)
    wav(tmp_path / "esd" / "0011" / "Angry" / "0012_000380.wav", seed=4)
    m = prepare("esd", tmp_path / "esd")
    assert {it.id: it.speaker for it in m} == {"0011_000400": "0011", "0012_000380": "0012"}
    assert any(n.startswith("1 file(s) lie in another speaker's folder") and "0011/Angry/0012_000380.wav (folder 0011)" in n
               for n in m.notes)


@pytest.mark.parametrize("corpus, good, other", [
    ("crema-d", "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/١٠٠١_DFA_ANG_XX.wav"),
    ("esd", "0011/Angry/0011_000351.wav", "0011/Angry/٠٠١١_000352.wav"),
    ("emodb", "wav/03a01Fa.wav", "wav/03a٠1Fa.wav")])
def test_file_name_digits_are_ascii_digits(tmp_path, corpus, good, other):
    """The corpora's names are ASCII digits; Python's ``\\d`` also takes Arabic-Indic and other digits (``١٠٠١``), which
    ``int`` reads as 1001: such a file was an item of a speaker ``١٠٠١`` with no sex (CREMA-D), of ``٠٠١١`` read as
    an English speaker with no sex (ESD), or of text ``a٠1`` with no sentence (EmoDB).  It does not follow the naming:
    left out and counted, as RAVDESS's reader already did."""
    wav(tmp_path / good, seed=1)
    wav(tmp_path / other, seed=2)
    m = prepare(corpus, tmp_path)
    assert [it.path for it in m] == [good]
    assert any("1 file in" in n and "naming" in n for n in m.notes)
