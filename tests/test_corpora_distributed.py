"""The corpus readers on the files as users get them, not as the corpora's documentation describes them: each fixture
copies a fact of a real download (its source in datasets/README.md, "Where each convention comes from").

* CREMA-D's own repository keeps every ``AudioWAV/*.wav`` in Git LFS: its README warns that the "Download ZIP" gives
  "stubs for all of the audio and video files", and a clone without git-lfs does too (130-131-byte text files that
  start ``version https://git-lfs.github.com/spec/v1``).
* Archives made on a Mac carry an AppleDouble file (``._NAME``, magic ``00 05 16 07``) beside each file: a copy of
  IEMOCAP holds ``._Ses01F_impro01_F000.wav`` (github.com/glam-imperial/EmotionalConversionStarGAN issue 13).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from conftest import fifo_fed, speech_like
from workbench.data.corpora import prepare, prepare_folder
from workbench.errors import ConfigError

#: a pointer as CREMA-D's repository holds it for AudioWAV/1001_DFA_ANG_XX.wav (130 bytes)
LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:c6f94b2592487c7556bd86df7df6e8f4420d1b9c11414aeec9d8e5e640b51495\nsize 72862\n")
#: the start of an AppleDouble file: magic, version 2, "Mac OS X" filler, then its entries
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 58


def wav(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(16000, 0.2, seed=seed), 16000, subtype="PCM_16")
    return path


def crema_d_zip(root: Path, *, fetched: tuple[str, ...] = ()) -> Path:
    """CREMA-D as its repository's ZIP unpacks: ``VideoDemographics.csv`` real, each ``AudioWAV/*.wav`` a pointer (those
    in ``fetched`` real, as after ``git lfs pull --include`` of a few)."""
    (root / "AudioWAV").mkdir(parents=True)
    (root / "VideoDemographics.csv").write_text('ActorID,Age,Sex,Race,Ethnicity\n1001,51,"Male","Caucasian","Not Hispanic"\n'
                                                 '1002,21,"Female","Caucasian","Not Hispanic"\n')
    for n, name in enumerate(("1001_DFA_ANG_XX", "1001_DFA_DIS_XX", "1002_IEO_HAP_HI", "1002_IEO_SAD_LO")):
        if name in fetched:
            wav(root / "AudioWAV" / f"{name}.wav", seed=n)
        else:
            (root / "AudioWAV" / f"{name}.wav").write_bytes(LFS_POINTER)
    return root


def test_crema_d_downloaded_as_its_repositorys_zip_is_refused_with_git_lfs_named(tmp_path):
    """Every file a 130-byte pointer: the manifest held 4 items and `run` failed each as 'could not decode: not a
    readable audio file, or truncated' (the cause said nowhere)."""
    with pytest.raises(ConfigError, match="every one of the 4 crema-d audio files is a Git LFS pointer") as e:
        prepare("crema-d", crema_d_zip(tmp_path / "CREMA-D"))
    assert "ZIP of its Git repository, or cloned without git-lfs" in e.value.message
    assert "git lfs pull" in e.value.fix and "AudioWAV/1001_DFA_ANG_XX.wav" in e.value.message


def test_crema_d_with_part_of_its_audio_fetched_leaves_the_pointers_out_and_names_them(tmp_path):
    m = prepare("crema-d", crema_d_zip(tmp_path / "CREMA-D", fetched=("1001_DFA_ANG_XX", "1002_IEO_HAP_HI")))
    assert sorted(it.id for it in m) == ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI"]
    note = next(n for n in m.notes if "LFS" in n)
    assert note.startswith("2 audio file(s) are Git LFS pointers, not recordings, and were left out (e.g. "
                           "AudioWAV/1001_DFA_DIS_XX.wav, AudioWAV/1002_IEO_SAD_LO.wav)")
    assert "git lfs pull" in note


def test_a_folder_of_git_lfs_pointers_is_refused_and_a_real_file_beside_them_kept(tmp_path):
    root = crema_d_zip(tmp_path / "CREMA-D")
    with pytest.raises(ConfigError, match="every one of the 4 audio files is a Git LFS pointer"):
        prepare_folder(root / "AudioWAV")
    wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    m = prepare_folder(root / "AudioWAV")
    assert [it.id for it in m] == ["1001_DFA_ANG_XX"]
    assert any(n.startswith("3 audio file(s) are Git LFS pointers") for n in m.notes)


def test_a_small_file_that_only_mentions_git_lfs_is_audio_all_the_same(tmp_path):
    """Only a file that starts as a pointer does is one: a short WAV is read, however small."""
    wav(tmp_path / "wav" / "03a01Fa.wav")
    (tmp_path / "wav" / "03a01Wa.wav").write_bytes(b"RIFF" + LFS_POINTER)
    assert len(prepare("emodb", tmp_path)) == 2


@pytest.mark.parametrize("corpus, good", [
    ("emodb", "wav/03a01Fa.wav"), ("ravdess", "Actor_01/03-01-05-01-01-01-01.wav"), ("crema-d", "AudioWAV/1001_DFA_ANG_XX.wav"),
    ("tess", "OAF_angry/OAF_back_angry.wav"), ("esd", "0011/Angry/evaluation/0011_000351.wav"),
    ("casia", "liuchanhg/angry/201.wav"), ("msp-podcast", "Audios/MSP-PODCAST_0001_0008.wav")])
def test_the_macos_appledouble_beside_each_file_is_no_item_and_no_misnamed_file(tmp_path, corpus, good):
    """``._201.wav`` beside CASIA's ``201.wav`` became the item ``liuchanhg_angry_._201`` (its emotion the folder's, its
    audio 82 bytes of Finder data); the other readers named every AppleDouble file as a file that does not follow the
    corpus's naming, so a Mac-made archive of TESS gave a note of 2,800 'misnamed' files."""
    wav(tmp_path / good)
    (tmp_path / good).with_name("._" + Path(good).name).write_bytes(APPLEDOUBLE)
    if corpus == "msp-podcast":
        (tmp_path / "Labels").mkdir()
        (tmp_path / "Labels" / "labels_consensus.csv").write_text(
            "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\nMSP-PODCAST_0001_0008.wav,A,4,4,4,1,Male,Train\n")
    m = prepare(corpus, tmp_path)
    assert [it.path for it in m] == [good]
    hidden = f"{Path(good).parent.as_posix()}/._{Path(good).name}"
    assert any(n.startswith(f"1 hidden file(s) with an audio extension in {tmp_path} were not read (e.g. {hidden})")
               and "AppleDouble" in n for n in m.notes), m.notes
    assert not any("naming" in n or "no row in" in n for n in m.notes), m.notes


def iemocap_release(root: Path) -> Path:
    """One session of ``IEMOCAP_full_release`` as unpacked from a Mac-made archive: an EmoEvaluation file per dialog
    (header line, summary lines, evaluators' ``C-E``/``A-E`` lines, the actors' ``C-F1``/``C-M1`` self-evaluations),
    its ``Attribute/``, ``Categorical/`` and ``Self-evaluation/`` per-rater copies, transcriptions with an unlabelled
    ``MXX0`` turn, and an AppleDouble ``._`` file beside each file."""
    s = root / "IEMOCAP_full_release" / "Session1"
    emo = s / "dialog" / "EmoEvaluation"
    emo.mkdir(parents=True)
    head = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    (emo / "Ses01F_impro01.txt").write_text(
        head + "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral state;\t()\nC-E3:\tNeutral state;\t()\nC-E4:\tNeutral state;\t()\nC-F1:\tNeutral state;\t()\n"
        "A-E3:\tval 3; act 2; dom  2;\t()\nA-E4:\tval 2; act 3; dom  3;\t(curious)\nA-F1:\tval 3; act 2; dom  1;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M000\txxx\t[2.5000, 2.0000, 2.5000]\n"
        "C-E1:\tFrustration;\t()\nC-E2:\tAnger; Frustration;\t()\nC-E3:\tNeutral state;\t()\nC-M1:\tFrustration;\t()\n\n")
    (emo / "Ses01F_script01_1.txt").write_text(
        head + "[14.4800 - 17.4900]\tSes01F_script01_1_M003\texc\t[3.5000, 3.5000, 3.0000]\n"
        "C-E1:\tExcited;\t()\nC-E2:\tHappiness; Excited;\t()\nC-E3:\tExcited;\t()\n\n"
        "[20.0000 - 21.0000]\tSes01F_script01_1_F004\toth\t[3.0000, 3.0000, 3.0000]\n"
        "C-E1:\tOther:sarcastic;\t()\nC-E2:\tOther:bored;\t()\n\n")
    for sub, line in (("Attribute", "Ses01F_impro01_F000 :act 2; val 3; dom  2; ()\n"),
                      ("Categorical", "Ses01F_impro01_F000 :Angry; ()\n"),
                      ("Self-evaluation", "[6.2901 - 8.2357]\tSes01F_impro01_F000\tang\t[1.0000, 5.0000, 5.0000]\n")):
        (emo / sub).mkdir()
        (emo / sub / f"Ses01F_impro01_e2_{sub[:3].lower()}.txt").write_text(line)
    tr = s / "dialog" / "transcriptions"
    tr.mkdir(parents=True)
    (tr / "Ses01F_impro01.txt").write_text("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
                                           "Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?\n"
                                           "Ses01F_impro01_MXX0 [012.0000-013.0000]: [LAUGHTER]\n")
    for n, turn in enumerate(("Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_script01_1_M003", "Ses01F_script01_1_F004")):
        wav(s / "sentences" / "wav" / turn.rsplit("_", 1)[0] / f"{turn}.wav", seed=n)
    for f in [p for p in s.rglob("*") if p.is_file()]:
        f.with_name("._" + f.name).write_bytes(APPLEDOUBLE)
    return root


def test_iemocap_as_released_speaker_from_the_turn_classes_and_evaluators(tmp_path):
    from workbench.data.corpora import iemocap

    root = iemocap_release(tmp_path)
    m = {it.id: it for it in prepare("iemocap", root)}
    assert sorted(m) == ["Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_script01_1_F004", "Ses01F_script01_1_M003"]
    got = {k: (it.label, it.emotion, it.speaker, it.gender, it.meta["improvised"], it.split) for k, it in m.items()}
    assert got["Ses01F_impro01_M000"] == ("xxx", "", "Ses01M", "male", True, "Session1")  # the turn's M, not the dialog's F
    assert got["Ses01F_script01_1_M003"] == ("exc", "happy", "Ses01M", "male", False, "Session1")
    assert got["Ses01F_script01_1_F004"] == ("oth", "other", "Ses01F", "female", False, "Session1")
    assert m["Ses01F_impro01_F000"].text == "Excuse me." and m["Ses01F_impro01_F000"].emotion == "neutral"
    four = {it.id: it.emotion for it in prepare("iemocap", root, classes="four")}
    assert four["Ses01F_script01_1_M003"] == "happy" and four["Ses01F_script01_1_F004"] == ""
    report = iemocap.read_evaluation(root)
    assert "._" not in report.source and "Categorical" not in report.source, report.source
    f000 = report.records["Ses01F_impro01_F000"]  # the Categorical/ and Self-evaluation/ copies' "ang" is not read
    assert (f000["votes_neutral"], f000["votes_angry"], f000["iemocap_self"]) == (3.0, 0.0, "Neutral state")
    m000 = report.records["Ses01F_impro01_M000"]
    assert (m000["votes_angry"], m000["votes_neutral"], m000["votes_unmapped"], m000["n_raters"]) == (0.5, 1.0, 1.5, 3.0)
    assert iemocap.read_evaluation(root, include_self=True).records["Ses01F_impro01_M000"]["n_raters"] == 4.0


def test_crema_d_with_only_its_mp3_copies_fetched_says_so(tmp_path):
    """The repository holds AudioMP3/ (the raters' copies) beside AudioWAV/; with only the MP3s fetched the reader said
    'no crema-d audio files with the corpus's naming were found' and 'pass the top folder', which the user had passed."""
    (tmp_path / "AudioMP3").mkdir()
    for name in ("1001_DFA_ANG_XX", "1001_DFA_DIS_XX"):
        (tmp_path / "AudioMP3" / f"{name}.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00")
    with pytest.raises(ConfigError, match=r"the folder holds 2 \.mp3 file\(s\) \(e\.g\. AudioMP3/1001_DFA_ANG_XX\.mp3\)") as e:
        prepare("crema-d", tmp_path)
    assert "AudioWAV/" in e.value.fix and "workbench manifest" in e.value.fix


def test_a_corpus_whose_files_are_all_hidden_is_refused_naming_them(tmp_path):
    """Hidden files are not read; when they are all there is, the refusal says so rather than only 'none found'."""
    wav(tmp_path / ".cache" / "emodb" / "wav" / "03a01Fa.wav")
    with pytest.raises(ConfigError, match=r"1 hidden file\(s\) \(a name or a folder starting with '\.', e\.g\. "
                                          r"\.cache/emodb/wav/03a01Fa\.wav\) were not read"):
        prepare("emodb", tmp_path)
    assert len(prepare("emodb", tmp_path / ".cache" / "emodb")) == 1  # the hidden folder passed itself is read


def test_an_audiofolder_skips_hidden_files_as_datasets_does_and_names_lfs_pointers(tmp_path):
    """`datasets` leaves hidden files out of an audiofolder; the workbench's own reader made the AppleDouble ``._a1.wav``
    an item labelled ``angry``.  A dataset repository cloned without git-lfs holds pointers where its audio should be:
    the rows pointing at them are skipped with the cause, and an import of nothing else is refused with it."""
    from workbench.data.hf import import_hf

    folder = tmp_path / "af"
    wav(folder / "angry" / "a1.wav")
    (folder / "angry" / "._a1.wav").write_bytes(APPLEDOUBLE)
    wav(folder / "sad" / "b1.wav", seed=1)
    res = import_hf(folder, tmp_path / "m.csv")
    assert sorted((Path(it.path).name, it.label) for it in res.manifest) == [("a1.wav", "angry"), ("b1.wav", "sad")]
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "metadata.csv").write_text("file_name,label\na.wav,angry\nb.wav,sad\n")
    (clone / "a.wav").write_bytes(LFS_POINTER)
    (clone / "b.wav").write_bytes(LFS_POINTER)
    with pytest.raises(ConfigError, match=r"a\.wav is a Git LFS pointer, not audio \(install git-lfs and run `git lfs pull`"):
        import_hf(clone, tmp_path / "m2.csv")
    wav(clone / "b.wav")
    res = import_hf(clone, tmp_path / "m3.csv")
    assert [Path(it.path).name for it in res.manifest] == ["b.wav"] and "Git LFS pointer" in res.skipped[0]


def test_a_pointer_in_a_manifest_made_elsewhere_is_named_as_one_when_it_is_decoded(tmp_path):
    """A hand-written manifest (or an EmoBox/lhotse import) pointing at CREMA-D's pointers failed every row with 'could
    not decode … re-export it as WAV', which never names the cause: the decoder names a Git LFS pointer and git lfs pull."""
    from workbench.audio.intake import load
    from workbench.errors import AudioError

    stub = tmp_path / "1001_DFA_ANG_XX.wav"
    stub.write_bytes(LFS_POINTER)
    with pytest.raises(AudioError) as e:
        load(stub)
    assert "Git LFS pointer" in str(e.value) and "git lfs pull" in str(e.value) and stub.name in str(e.value)
    odd = tmp_path / "odd.wav"  # a small file that is not a pointer keeps the decoder's own words
    odd.write_bytes(b"version 2 of something else\n")
    with pytest.raises(AudioError, match="could not decode"):
        load(odd)


def test_a_file_swapped_for_a_fifo_after_its_size_was_read_is_not_opened_for_ever(tmp_path, monkeypatch):
    """lfs_pointers stat()ed a file, then open()ed it: a FIFO put there in between (a folder being written while it is
    scanned) made open() wait for a writer for ever, and what a writer sent was read as the file's first bytes."""
    import os

    from workbench.data.corpora.common import lfs_pointers

    (tmp_path / "real.wav").write_bytes(b"RIFF" + bytes(100))
    os.mkfifo(tmp_path / "take.wav")
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: real_stat(tmp_path / "real.wav") if self.name == "take.wav"
                        else real_stat(self, **kw))  # the regular file stat() saw before the swap

    with fifo_fed(tmp_path / "take.wav", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n"):
        found = lfs_pointers(tmp_path, ["take.wav"])  # the old code returned the sent bytes as a pointer
    assert found == []
