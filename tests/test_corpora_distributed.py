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

from conftest import speech_like
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
