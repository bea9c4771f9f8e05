"""Corpus loaders on small fake trees laid out as each corpus is distributed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.data.corpora import LABEL_MAPS, import_emobox, map_label, prepare, prepare_folder
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import read_manifest, write_manifest
from workbench.runs.driver import run


def wav(path: Path, dur: float = 0.3, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(16000, dur, seed=seed), 16000, subtype="PCM_16")
    return path


def by_id(manifest):
    return {it.id: it for it in manifest}


def test_every_table_maps_onto_the_nine_classes_or_nothing():
    for corpus, table in LABEL_MAPS.items():
        for label, key in table.items():
            assert key == "" or key in LABEL_KEYS, (corpus, label, key)


def test_emodb(tmp_path):
    for name in ["03a01Fa", "08b10Wb", "10a04Lc", "16b03Tb", "09a05Ea", "13a07Aa", "11b09Nc"]:
        wav(tmp_path / "wav" / f"{name}.wav")
    wav(tmp_path / "wav" / "README.wav")  # does not follow the naming: skipped
    m = by_id(prepare("emodb", tmp_path))
    assert len(m) == 7
    assert (m["03a01Fa"].emotion, m["03a01Fa"].speaker, m["03a01Fa"].gender) == ("happy", "03", "male")
    assert m["03a01Fa"].text == "Der Lappen liegt auf dem Eisschrank."
    assert (m["08b10Wb"].emotion, m["08b10Wb"].gender) == ("angry", "female")
    assert (m["10a04Lc"].label, m["10a04Lc"].emotion) == ("L", "")  # boredom: no counterpart
    assert m["16b03Tb"].emotion == "sad" and m["09a05Ea"].emotion == "disgusted"
    assert m["13a07Aa"].emotion == "fearful" and m["11b09Nc"].emotion == "neutral"
    assert m["09a05Ea"].meta["age"] == 21


def test_ravdess(tmp_path):
    names = ["03-01-01-01-01-01-01", "03-01-02-02-02-02-02", "03-01-05-02-01-01-12", "03-01-08-01-02-02-23", "03-02-06-01-01-01-24", "03-01-07-02-01-02-05"]
    for n in names:
        actor = n.split("-")[-1]
        wav(tmp_path / f"Actor_{actor}" / f"{n}.wav")
    m = by_id(prepare("ravdess", tmp_path))
    assert m["03-01-01-01-01-01-01"].emotion == "neutral" and m["03-01-01-01-01-01-01"].gender == "male"
    calm = m["03-01-02-02-02-02-02"]
    assert (calm.emotion, calm.meta["label_name"], calm.gender, calm.meta["intensity"]) == ("", "calm", "female", "strong")
    assert calm.text == "Dogs are sitting by the door"
    assert m["03-01-05-02-01-01-12"].emotion == "angry" and m["03-01-05-02-01-01-12"].speaker == "Actor_12"
    assert m["03-01-08-01-02-02-23"].emotion == "surprised"
    assert "03-02-06-01-01-01-24" not in m  # song: left out by default (a different task)
    assert m["03-01-07-02-01-02-05"].emotion == "disgusted" and m["03-01-07-02-01-02-05"].meta["vocal_channel"] == "speech"
    song = by_id(prepare("ravdess", tmp_path, channel="song"))
    assert list(song) == ["03-02-06-01-01-01-24"] and song["03-02-06-01-01-01-24"].emotion == "fearful"
    assert len(prepare("ravdess", tmp_path, channel="both")) == 6


def test_ravdess_skips_codes_its_readme_rules_out_and_keeps_song_apart(tmp_path, capsys):
    """The README: no strong neutral, 24 actors, no disgust or surprised in song; a video-only recording has no audio.
    Such names were read as items; song was mixed with speech without a word.  Now each is skipped and named, and
    song is left out with its count and the option that brings it in."""
    from workbench.cli import main

    good = ["03-01-01-01-01-01-01", "03-01-03-02-02-02-02", "01-01-04-01-01-01-03", "03-02-05-02-01-01-04", "03-02-01-01-01-01-06"]
    bad = {"03-01-01-02-01-01-01": "strong intensity (02) for neutral (01)", "03-01-05-01-01-01-25": "actor 25",
           "03-01-05-01-01-01-00": "actor 00", "02-01-05-01-01-01-07": "video-only", "03-02-07-01-01-01-08": "song (02) with disgust (07)",
           "03-02-08-02-01-01-09": "song (02) with surprised (08)"}
    for n in [*good, *bad]:
        wav(tmp_path / "c" / f"Actor_{n[-2:]}" / f"{n}.wav")
    m = prepare("ravdess", tmp_path / "c")
    assert sorted(it.id for it in m) == ["01-01-04-01-01-01-03", "03-01-01-01-01-01-01", "03-01-03-02-02-02-02"]
    assert {it.meta["modality"] for it in m} == {"full-AV", "audio-only"}
    notes = " | ".join(m.notes)
    assert "3 speech files in the manifest" in notes and "2 song files left out (vocal channel 02): pass --channel song" in notes
    assert "6 files skipped: their codes are ruled out by the RAVDESS README" in notes
    both = prepare("ravdess", tmp_path / "c", channel="both")
    assert sorted(it.meta["vocal_channel"] for it in both) == ["song"] * 2 + ["speech"] * 3
    assert "3 speech files, 2 song files in the manifest (speech and song are different tasks" in " ".join(both.notes)
    assert main(["datasets", "prepare", "ravdess", str(tmp_path / "c"), "--out", str(tmp_path / "r.csv")]) == 0
    err = capsys.readouterr().err
    shown = [n for n in bad if n in err]
    assert len(shown) == 5 and "… and 1 more" in err  # the first five named, with their reasons, and a count
    assert all(why in err for n, why in bad.items() if n in shown)
    assert len(read_manifest(tmp_path / "r.csv")) == 3
    assert main(["datasets", "prepare", "ravdess", str(tmp_path / "c"), "--channel", "song", "--out", str(tmp_path / "s.csv")]) == 0
    assert len(read_manifest(tmp_path / "s.csv")) == 2
    assert main(["datasets", "prepare", "emodb", str(tmp_path / "c"), "--channel", "song", "--out", str(tmp_path / "e.csv")]) == 2
    assert "emodb: takes no option --channel; it takes none" in capsys.readouterr().err


def test_crema_d_with_demographics(tmp_path):
    for n in ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1091_TIE_NEU_XX", "1002_WSI_DIS_LO", "1001_ITS_FEA_MD", "1091_MTI_SAD_XX"]:
        wav(tmp_path / "AudioWAV" / f"{n}.wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n1091,29,Female,Asian,Not Hispanic\n")
    m = by_id(prepare("crema-d", tmp_path))
    a = m["1001_DFA_ANG_XX"]
    assert (a.emotion, a.speaker, a.gender, a.text, a.meta["level"], a.meta["age"]) == ("angry", "1001", "male", "Don't forget a jacket", "unspecified", 51)
    assert m["1002_IEO_HAP_HI"].emotion == "happy" and m["1002_IEO_HAP_HI"].meta["level"] == "high" and m["1002_IEO_HAP_HI"].gender == "female"
    assert m["1002_WSI_DIS_LO"].emotion == "disgusted" and m["1001_ITS_FEA_MD"].emotion == "fearful"
    assert m["1091_MTI_SAD_XX"].emotion == "sad" and m["1091_TIE_NEU_XX"].emotion == "neutral"


def test_crema_d_pointed_at_audiowav_reads_the_demographics_beside_it(tmp_path):
    """The distribution keeps VideoDemographics.csv next to AudioWAV/: given AudioWAV/ itself, sex comes from that file,
    and without it the manifest says the sex is empty and why (it was left blank without a word)."""
    for n in ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1040_ITH_SAD_X"]:  # 1040_ITH_SAD_X: as the corpus spells that one file
        wav(tmp_path / "AudioWAV" / f"{n}.wav")
    demo = tmp_path / "VideoDemographics.csv"
    demo.write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    m = prepare("crema-d", tmp_path / "AudioWAV")
    # the file 1040_ITH_SAD_X.wav is 1040_ITH_SAD_XX in the corpus's tables: its id is the tables' name
    assert {it.id: it.gender for it in m} == {"1001_DFA_ANG_XX": "male", "1002_IEO_HAP_HI": "female", "1040_ITH_SAD_XX": ""}
    assert any("1 actor(s) without a row" in n and "1040" in n for n in m.notes)
    demo.unlink()
    m = prepare("crema-d", tmp_path / "AudioWAV")
    assert all(it.gender == "" for it in m) and any("no VideoDemographics.csv" in n for n in m.notes)


def test_crema_d_names_files_whose_sentence_or_actor_the_corpus_does_not_have(tmp_path):
    """A sentence code outside the README's twelve, or an actor outside 1001-1091, was taken as CREMA-D's with empty
    text and nothing said."""
    for n in ["1001_DFA_ANG_XX", "1001_XYZ_ANG_XX", "0999_IEO_HAP_HI", "1092_QQQ_SAD_LO"]:
        wav(tmp_path / "AudioWAV" / f"{n}.wav")
    m = prepare("crema-d", tmp_path)
    assert len(m) == 4 and by_id(m)["1001_XYZ_ANG_XX"].text == ""
    note = next(n for n in m.notes if "not the corpus's own" in n)
    assert note.startswith("3 file(s) are named like CREMA-D's")
    assert "AudioWAV/1001_XYZ_ANG_XX.wav (sentence XYZ is none of the 12)" in note
    assert "AudioWAV/0999_IEO_HAP_HI.wav (actor 0999 is outside 1001–1091)" in note
    assert "AudioWAV/1092_QQQ_SAD_LO.wav (sentence QQQ is none of the 12, actor 1092 is outside 1001–1091)" in note
    assert "1001_DFA_ANG_XX" not in note


def test_an_empty_or_header_only_file_in_a_corpus_is_named_by_prepare_and_fails_its_row_in_run(tmp_path, tiny_model):
    """A 0-byte file went into the manifest with nothing said; a header-only WAV cannot be told by its size: both must
    come out of the first run as failed rows that name the file and the fact, the others scored."""
    wav(tmp_path / "wav" / "03a01Fa.wav")
    (tmp_path / "wav" / "03a01Wa.wav").write_bytes(b"")
    sf.write(tmp_path / "wav" / "03a02Ta.wav", np.zeros(0, np.float32), 16000)  # a 44-byte WAV header, no samples
    m = prepare("emodb", tmp_path)
    assert len(m) == 3
    assert any(n.startswith("1 audio file(s) are empty (0 bytes): wav/03a01Wa.wav;") for n in m.notes)
    assert any(n.startswith("1 audio file(s) are empty (0 bytes): 03a01Wa.wav;") for n in prepare_folder(tmp_path / "wav").notes)
    rows = run(m, out_dir=tmp_path / "run", model=tiny_model, use_cache=False).results().set_index("id")["error"]
    assert rows["03a01Fa"] == ""
    assert rows["03a01Wa"].endswith("wav/03a01Wa.wav: file is empty (0 bytes). Fix: re-export or re-download the file.")
    assert "wav/03a02Ta.wav: contains no audio samples (zero length)" in rows["03a02Ta"]


def test_tess(tmp_path):
    files = ["OAF_angry/OAF_back_angry", "YAF_pleasant_surprised/YAF_bath_ps", "OAF_Fear/OAF_bean_fear", "YAF_disgust/YAF_chair_disgust", "OAF_neutral/OAF_hail_neutral"]
    for f in files:
        wav(tmp_path / f"{f}.wav")
    m = by_id(prepare("tess", tmp_path))
    assert m["OAF_back_angry"].emotion == "angry" and m["OAF_back_angry"].text == "Say the word back"
    assert m["YAF_bath_ps"].emotion == "surprised" and m["YAF_bath_ps"].gender == "female" and m["YAF_bath_ps"].meta["age"] == 26
    assert m["OAF_bean_fear"].emotion == "fearful" and m["YAF_chair_disgust"].emotion == "disgusted"


def test_a_second_copy_of_the_corpus_inside_its_folder(tmp_path):
    """Downloads that nest a second copy of the corpus (TESS's folder inside itself) gave every file twice under one id:
    the copy nearest the top is kept and the identical copies named; two different files under one name are refused."""
    top = tmp_path / "TESS Toronto emotional speech set data"
    for base in (top, top / top.name):
        for f in ["OAF_Pleasant_surprise/OAF_back_ps", "YAF_pleasant_surprised/YAF_back_ps", "YAF_fear/YAF_back_fear"]:
            wav(base / f"{f}.wav")
    m = prepare("tess", tmp_path)
    assert sorted(it.path for it in m) == sorted(f"{top.name}/{f}.wav" for f in ["OAF_Pleasant_surprise/OAF_back_ps",
                                                                              "YAF_pleasant_surprised/YAF_back_ps", "YAF_fear/YAF_back_fear"])
    assert any(n.startswith("3 files are byte-identical second copies") for n in m.notes)
    wav(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav", seed=1)
    wav(tmp_path / "audio_speech_actors_01-24" / "Actor_01" / "03-01-05-01-01-01-01.wav", seed=2)
    with pytest.raises(ConfigError, match="two different ravdess files carry the same name, 03-01-05-01-01-01-01") as e:
        prepare("ravdess", tmp_path)
    assert "one copy" in e.value.fix


def test_iemocap_reads_emoevaluation_and_transcripts(tmp_path):
    s1 = tmp_path / "Session1"
    ev = s1 / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses01F_impro01.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]\n"
        "[20.0 - 21.0]\tSes01F_impro01_M003\txxx\t[2.5000, 2.5000, 2.5000]\n"
    )
    tr = s1 / "dialog" / "transcriptions"
    tr.mkdir(parents=True)
    (tr / "Ses01F_impro01.txt").write_text("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\nSes01F_impro01_M001 [010.0100-011.3925]: Do you have your forms?\n")
    for utt in ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_F002", "Ses01F_impro01_M003"]:
        wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav")
    m = by_id(prepare("iemocap", tmp_path))
    f0 = m["Ses01F_impro01_F000"]
    assert (f0.emotion, f0.speaker, f0.gender, f0.text, f0.split) == ("neutral", "Ses01F", "female", "Excuse me.", "Session1")
    m1 = m["Ses01F_impro01_M001"]
    assert (m1.label, m1.emotion, m1.speaker, m1.gender) == ("exc", "happy", "Ses01M", "male")  # excited → happy
    assert m1.meta["valence"] == 3.5
    assert m["Ses01F_impro01_F002"].emotion == "" and m["Ses01F_impro01_M003"].emotion == ""


def test_esd_with_split_folders_and_texts(tmp_path):
    (tmp_path / "0011").mkdir()
    (tmp_path / "0011" / "0011.txt").write_text("0011_000401\tThe nine the eggs, I keep.\tAngry\n0011_001421\tI am surprised.\tSurprise\n", encoding="utf-8")
    wav(tmp_path / "0011" / "Angry" / "train" / "0011_000401.wav")
    wav(tmp_path / "0011" / "Surprise" / "test" / "0011_001421.wav")
    wav(tmp_path / "0002" / "Happy" / "0002_000701.wav")  # flattened redistribution
    manifest = prepare("esd", tmp_path)
    m = by_id(manifest)
    a = m["0011_000401"]
    assert (a.emotion, a.split, a.speaker, a.text, a.meta["language"]) == ("angry", "train", "0011", "The nine the eggs, I keep.", "en")
    assert m["0011_001421"].emotion == "surprised" and m["0011_001421"].split == "test"
    # without its split folder, the split is the one the distribution gives the number: 701 opens Happy's block, evaluation
    assert m["0002_000701"].emotion == "happy" and m["0002_000701"].meta["language"] == "zh" and m["0002_000701"].split == "evaluation"
    assert not any("does not belong to" in n for n in manifest.notes)


def test_casia(tmp_path):
    wav(tmp_path / "liuchanhg" / "angry" / "201.wav")
    wav(tmp_path / "wangzhe" / "fear" / "210.wav")
    wav(tmp_path / "ZhaoZuoxiang" / "surprise" / "250.wav")
    m = by_id(prepare("casia", tmp_path))
    assert m["liuchanhg_angry_201"].emotion == "angry" and m["liuchanhg_angry_201"].speaker == "liuchanhg"
    assert m["wangzhe_fear_210"].emotion == "fearful" and m["ZhaoZuoxiang_surprise_250"].emotion == "surprised"


def test_empty_or_wrong_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        prepare("emodb", tmp_path / "nope")
    wav(tmp_path / "whatever.wav")
    with pytest.raises(ConfigError, match="no emodb audio files"):
        prepare("emodb", tmp_path)
    with pytest.raises(ConfigError, match="unknown corpus"):
        prepare("savee", tmp_path)


def test_emobox_folds_and_label_map(tmp_path):
    wav(tmp_path / "downloads" / "iemocap" / "a.wav")
    wav(tmp_path / "downloads" / "iemocap" / "b.wav")
    d = tmp_path / "data" / "iemocap"
    (d / "fold_1").mkdir(parents=True)
    (d / "fold_2").mkdir(parents=True)
    rec_a = {"key": "a", "dataset": "iemocap", "wav": "downloads/iemocap/a.wav", "type": "raw", "sample_rate": 16000, "length": 0.3, "task": "category", "emo": "exc", "channel": 1}
    rec_b = dict(rec_a, key="b", wav="downloads/iemocap/b.wav", emo="fru")
    (d / "fold_1" / "iemocap_train_fold_1.jsonl").write_text(json.dumps(rec_a) + "\n")
    (d / "fold_1" / "iemocap_test_fold_1.jsonl").write_text(json.dumps(rec_b) + "\n")
    (d / "fold_2" / "iemocap_test_fold_2.jsonl").write_text(json.dumps(rec_a) + "\n")
    files = sorted(d.rglob("*.jsonl"))
    m = by_id(import_emobox(files, root=tmp_path))
    assert m["a"].emotion == "happy" and m["a"].meta["folds"] == {"1": "train", "2": "test"} and m["a"].split == ""
    assert m["b"].emotion == "" and m["b"].label == "fru"
    lm = tmp_path / "label_map.json"
    lm.write_text(json.dumps({"fru": "anger"}))
    m2 = by_id(import_emobox([d / "fold_1" / "iemocap_test_fold_1.jsonl"], root=tmp_path, label_map=lm))
    assert m2["b"].emotion == "angry" and m2["b"].split == "test"


def test_emobox_labels_written_as_words_for_a_corpus_with_a_code_table(tmp_path):
    """EmoBox's EmoDB and RAVDESS metadata name the emotions (``anger``, ``boredem``, ``Fearful``), not the corpora's
    file-name codes (``W``, ``06``) their tables are keyed by: they get their emotion from the names, codes from the table."""
    rows = [("emodb", "emodb-03a02Wb", "anger", "angry"), ("emodb", "emodb-03b01Lb", "boredem", ""),
            ("emodb", "emodb-08a01Ab", "fear", "fearful"), ("ravdess", "ravdess-03-01-06-01-02-01-12", "Fearful", "fearful"),
            ("ravdess", "ravdess-03-01-02-01-01-01-01", "Calm", ""), ("cremad", "cremad-1001-DFA-ANG-XX", "ANG", "angry"),
            ("iemocap", "iemocap-Ses01F_impro01_F000", "exc", "happy")]
    files = []
    for dataset, key, emo, _ in rows:
        wav(tmp_path / "downloads" / dataset / f"{key}.wav")
        jf = tmp_path / "data" / dataset / "fold_1" / f"{dataset}_test_fold_1.jsonl"
        jf.parent.mkdir(parents=True, exist_ok=True)
        with open(jf, "a") as f:
            f.write(json.dumps({"key": key, "dataset": dataset, "wav": f"downloads/{dataset}/{key}.wav", "emo": emo}) + "\n")
        files.append(jf)
    m = by_id(import_emobox(sorted(set(files)), root=tmp_path))
    assert {k: m[k].emotion for _, k, _, _ in rows} == {k: want for _, k, _, want in rows}


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_manifest_round_trip_and_validation(tmp_path, ext):
    for name in ["03a01Fa", "08b10Wb"]:
        wav(tmp_path / "emodb" / "wav" / f"{name}.wav")
    m = prepare("emodb", tmp_path / "emodb")
    out = write_manifest(m, tmp_path / "emodb" / f"manifest.{ext}")
    back = read_manifest(out)
    assert [it.to_dict() for it in back] == [it.to_dict() for it in m]
    # missing files are listed together, with a count
    (tmp_path / "emodb" / "wav" / "03a01Fa.wav").unlink()
    (tmp_path / "emodb" / "wav" / "08b10Wb.wav").unlink()
    with pytest.raises(ConfigError, match="2 missing files"):
        read_manifest(out)


def test_manifest_duplicates_and_extra_columns(tmp_path):
    wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("id,path,label,mood\nx,a.wav,happy,bright\nx,a.wav,sad,dark\n")
    with pytest.raises(ConfigError, match="1 duplicate ids"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m2.csv").write_text("id,path,label,mood\nx,a.wav,happy,bright\n")
    m = read_manifest(tmp_path / "m2.csv")
    assert m.items[0].meta == {"mood": "bright"}
    (tmp_path / "m3.csv").write_text("name,file\nx,a.wav\n")
    with pytest.raises(ConfigError, match="needs the columns 'id' and 'path'"):
        read_manifest(tmp_path / "m3.csv")


def test_map_label_generic():
    assert map_label("", "Anger") == "angry" and map_label("", "calm") == ""


def test_manifest_and_corpora_import_in_one_direction():
    """corpora builds on manifest; manifest never imports corpora (not even inside a function)."""
    import ast

    import workbench.data.manifest

    tree = ast.parse(Path(workbench.data.manifest.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "corpora" not in imported and "workbench.data.corpora" not in imported


def test_prepare_folder_ids_paths_and_labels_from_folders(tmp_path):
    from workbench.data.corpora import prepare_folder

    root = tmp_path / "my_wavs"
    wav(root / "angry" / "a1.wav")
    wav(root / "Joy" / "j1.wav")
    wav(root / "calm" / "c1.wav")
    wav(root / "top.wav")
    wav(root / "angry" / "same.wav")
    wav(root / "calm" / "same.wav")  # the same name in two folders: ids from the relative path
    wav(root / ".hidden" / "h.wav")  # hidden folders are skipped
    (root / "notes.txt").write_text("not audio")
    m = prepare_folder(root, label_from_folder=True)
    got = {it.id: (it.path, it.label, it.emotion) for it in m}
    assert got == {
        "a1": ("angry/a1.wav", "angry", "angry"),
        "angry/same": ("angry/same.wav", "angry", "angry"),
        "c1": ("calm/c1.wav", "calm", ""),  # no counterpart: label kept, emotion empty
        "calm/same": ("calm/same.wav", "calm", ""),
        "j1": ("Joy/j1.wav", "Joy", "happy"),
        "top": ("top.wav", "", ""),  # at the top: no folder to take a label from
    }
    assert m.validate().ok and m.root == root.resolve()
    assert {it.label for it in prepare_folder(root)} == {""}
    with pytest.raises(ConfigError, match="folder not found"):
        prepare_folder(tmp_path / "no_such_folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no audio files"):
        prepare_folder(tmp_path / "empty")


def test_emobox_label_map_values_must_be_emotions(tmp_path):
    jf = tmp_path / "x.jsonl"
    jf.write_text(json.dumps({"key": "a", "wav": "a.wav", "emo": "hap"}) + "\n")
    lm = tmp_path / "lm.json"
    lm.write_text(json.dumps({"hap": "joyful"}))
    with pytest.raises(ConfigError, match="'hap': 'joyful'"):
        import_emobox([jf], root=tmp_path, label_map=lm)
    lm.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        import_emobox([jf], root=tmp_path, label_map=lm)
    jf.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="line 1 is a JSON list"):
        import_emobox([jf], root=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        import_emobox([tmp_path / "nope.jsonl"], root=tmp_path)


@pytest.mark.parametrize("corpus, good", [
    ("emodb", "wav/03a01Fa.wav"), ("ravdess", "Actor_01/03-01-01-01-01-01-01.wav"), ("crema-d", "AudioWAV/1001_DFA_ANG_XX.wav"),
    ("tess", "OAF_angry/OAF_back_angry.wav"), ("esd", "0002/Happy/0002_000701.wav"), ("casia", "liuchanhg/angry/201.wav")])
def test_every_naming_reader_puts_the_files_it_left_out_in_the_manifest_notes(tmp_path, corpus, good):
    """Files that do not follow a corpus's naming were only logged ('5 files do not follow the corpus's naming and were
    skipped (e.g. README.wav)'): a manifest, its `datasets prepare` lines and a run's log never said them.  Now every
    naming reader's manifest says how many, where, and a few of them, each path cut in the middle (bounded)."""
    long_dir = "a" * 150
    odd = ["README.wav", f"{long_dir}/odd.wav", "x/notes.wav", "z1.wav", "z2.wav"]
    for k, name in enumerate([good, *odd]):
        wav(tmp_path / name, seed=k)
    m = prepare(corpus, tmp_path)
    assert len(m) == 1
    note = next(n for n in m.notes if "naming" in n)
    assert note.startswith(f"5 files in {tmp_path} do not follow {m.name}'s naming (e.g. README.wav, aaaa")
    assert note.endswith("x/notes.wav … and 2 more) and were left out"), note
    assert long_dir not in note and "…" in note.split(", ")[1] and len(note) < 400


def test_left_out_turns_and_rows_are_said_in_the_notes_with_their_own_reason(tmp_path):
    """IEMOCAP's turns whose wav is missing were logged as 'files do not follow the corpus's naming' and kept out of
    the notes; MSP-Podcast's rows without audio were logged only."""
    s1 = tmp_path / "iemocap" / "Session1"
    (s1 / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]\n")
    wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    m = prepare("iemocap", tmp_path / "iemocap")
    assert "1 turn(s) labelled in SessionN/dialog/EmoEvaluation have no audio file (SessionN/sentences/wav/DIALOG/TURN.wav) " \
           "and were left out (e.g. Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav)" in m.notes
    assert not any("naming" in n for n in m.notes)
    msp = tmp_path / "msp"
    wav(msp / "Audios" / "MSP-PODCAST_0001_0008.wav")
    (msp / "Labels").mkdir()
    (msp / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                                                         "MSP-PODCAST_0001_0008.wav,A,4,4,4,1,Male,Train\n"
                                                         "MSP-PODCAST_0009_0001.wav,S,4,4,4,3,Male,Train\n")
    note = next(n for n in prepare("msp-podcast", msp).notes if "left out" in n)
    assert note == "1 row(s) of labels_consensus.csv were left out: 1 without their audio file in the folder (e.g. MSP-PODCAST_0009_0001.wav)"


def test_a_runs_summary_carries_the_files_the_corpus_reader_left_out(tmp_path, tiny_model):
    """The corpus reader's notes reached a run's log.txt only; summary.json, which reports and `compare` read, now
    keeps them too."""
    import json

    wav(tmp_path / "wav" / "03a01Fa.wav")
    wav(tmp_path / "wav" / "README.wav", seed=1)
    result = run(prepare("emodb", tmp_path), out_dir=tmp_path / "run", model=tiny_model, use_cache=False)
    said = f"1 file in {tmp_path} does not follow emodb's naming (e.g. wav/README.wav) and was left out"
    assert said in result.summary["manifest_notes"]
    assert said in json.loads((tmp_path / "run" / "summary.json").read_text())["manifest_notes"]
    assert f"manifest: {said}" in (tmp_path / "run" / "log.txt").read_text()


def test_datasets_prepare_says_what_to_run_next_as_manifest_does(tmp_path, capsys):
    """`workbench manifest` ends with a `next: workbench run …` line; `datasets prepare ravdess DIR --out x.csv` ended
    with its label counts and no word of what to do with the manifest."""
    from workbench.cli import main
    from workbench.paths import shell_command

    for n in ("03-01-01-01-01-01-01", "03-01-05-01-01-01-01"):
        wav(tmp_path / "c" / "Actor_01" / f"{n}.wav")
    out = tmp_path / "x.csv"
    assert main(["datasets", "prepare", "ravdess", str(tmp_path / "c"), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"next: {shell_command('workbench', 'run', out, '--out', 'runs/x')}" in lines, lines
