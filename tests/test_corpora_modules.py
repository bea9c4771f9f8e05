"""One module per corpus: each corpus's conventions are written once, and the manifest reader and the listener
reader of a corpus agree on the same files (issue #27 item 4).

Before the split, the EmoDB letter map and file-name pattern lived in two modules and IEMOCAP's summary-line
pattern in two differing copies: the manifest reader wanted ``[6.2901 - 8.2357]`` with decimals, the listener
reader also read ``[20 - 21.5]``, so a turn could carry votes and yet be missing from the manifest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from conftest import speech_like
from workbench.data import listeners as L
from workbench.data.corpora import (
    casia, CORPORA, crema_d, emodb, esd, iemocap, LABEL_MAPS, msp_podcast, PREPARERS, prepare, ravdess, tess, VOTE_FORMATS,
)
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

#: conventions that must be spelt in one module of the package only: (what, pattern, its home); the home may build a
#: pattern from its table instead of spelling it (EmoDB's letter class comes from its LABEL_MAP)
WRITTEN_ONCE = [
    ("EmoDB's emotion letters as a regex class", re.compile(r"\[WLEAFTN\]"), "data/corpora/emodb.py"),
    ("EmoDB's letter map", re.compile(r"""["']W["']\s*:\s*["']angry["']"""), "data/corpora/emodb.py"),
    ("IEMOCAP's turn-name pattern", re.compile(r"Ses\\d\\d\[FM\]"), "data/corpora/iemocap.py"),
    ("IEMOCAP's evaluator categories", re.compile(r"""["']neutral state["']""", re.IGNORECASE), "data/corpora/iemocap.py"),
    ("CREMA-D's emotion codes", re.compile(r"""["']ANG["']\s*:\s*["']angry["']"""), "data/corpora/crema_d.py"),
    ("RAVDESS's file-name pattern", re.compile(r"0\[1-8\]"), "data/corpora/ravdess.py"),
    ("MSP-Podcast's contempt class", re.compile(r"""["']contempt["']"""), "data/corpora/msp_podcast.py"),
]


def copies(package: Path, pattern: re.Pattern) -> list[str]:
    """The package's modules (relative paths) whose source matches ``pattern``."""
    return sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("what, pattern, home", WRITTEN_ONCE, ids=[w[0] for w in WRITTEN_ONCE])
def test_each_corpus_convention_is_written_in_its_module_only(what, pattern, home):
    found = copies(PACKAGE, pattern)
    assert set(found) <= {home}, f"{what} must live in {home} only, not in {found}"
    if "regex class" not in what:
        assert found == [home], f"{what} is no longer in {home}: move the check with it"


def test_the_copy_finder_finds_a_second_copy(tmp_path):
    # the check above fails on the tree before the split: a planted second copy of the IEMOCAP pattern is found
    pkg = tmp_path / "workbench"
    (pkg / "data").mkdir(parents=True)
    line = 'TURN = re.compile(r"^\\[(\\d+\\.\\d+)\\s*-\\s*(\\d+\\.\\d+)\\]\\s+(Ses\\d\\d[FM]_\\S+)")\n'
    (pkg / "data" / "corpora.py").write_text(line)
    (pkg / "data" / "listeners.py").write_text(line.replace("\\.\\d+", "(?:\\.\\d+)?"))
    (pkg / "data" / "other.py").write_text("x = 1\n")
    assert copies(pkg, WRITTEN_ONCE[2][1]) == ["data/corpora.py", "data/listeners.py"]


# ---------------------------------------------------------------------------
# IEMOCAP: the manifest reader and the listener reader parse the same lines
# ---------------------------------------------------------------------------
#: summary lines as the corpus writes them (tab-separated, four decimals), one with spaces for tabs, and one
#: whose times are whole numbers; then the evaluator lines the listener reader reads
IEMOCAP_LINES = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral state;\t()
C-E3:\tFrustration;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]   Ses01F_impro01_M001   exc   [3.5000, 3.5000, 3.0000]
C-E1:\tExcited;\t()
C-E2:\tHappiness;\t()

[20 - 21.5]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]
C-E1:\tFrustration;\t()
C-E2:\tAnger;\t()
"""


def _iemocap_tree(root: Path) -> Path:
    ev = root / "Session1" / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses01F_impro01.txt").write_text(IEMOCAP_LINES, encoding="utf-8")
    for utt in ("Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_F002"):
        wav = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, speech_like(16000, 0.2, seed=1), 16000, subtype="PCM_16")
    return ev


def test_iemocap_manifest_and_listener_readers_see_the_same_turns(tmp_path):
    _iemocap_tree(tmp_path)
    manifest = prepare("iemocap", tmp_path)
    votes = L.read_votes("iemocap", tmp_path)
    assert sorted(it.id for it in manifest) == sorted(votes.records) == [
        "Ses01F_impro01_F000", "Ses01F_impro01_F002", "Ses01F_impro01_M001"]
    by_id = {it.id: it for it in manifest}
    late = by_id["Ses01F_impro01_F002"]
    assert (late.meta["dialog_start"], late.meta["dialog_end"], late.label, late.emotion) == (20.0, 21.5, "fru", "")
    # the summary line's code and the evaluators' categories land on the same class
    assert by_id["Ses01F_impro01_M001"].emotion == votes.records["Ses01F_impro01_M001"]["listener_majority"] == "happy"
    assert votes.records["Ses01F_impro01_F000"]["iemocap_label"] == "neu" and by_id["Ses01F_impro01_F000"].emotion == "neutral"


def test_iemocap_summary_lines_not_read_are_counted_and_their_votes_go_to_no_turn(tmp_path):
    # a renamed turn (dashes for underscores) and a time that is no number: both were skipped without a word ("0 read"
    # on a folder of such files), and the evaluators' lines under them were added to the turn read before
    ev = _iemocap_tree(tmp_path)
    extra = ("[30.1 - 32.0]\tSes01F-impro01-M003\tang\t[2.0000, 4.0000, 4.0000]\nC-E1:\tAnger;\t()\nC-E2:\tAnger;\t()\n"
             "[x - 40.0]\tSes01F_impro01_F004\tsad\t[2.0000, 2.0000, 2.0000]\nC-E1:\tAnger;\t()\n")
    (ev / "Ses01F_impro01.txt").write_text(IEMOCAP_LINES + extra, encoding="utf-8")
    manifest = prepare("iemocap", tmp_path)
    assert len(manifest) == 3
    assert any(n.startswith("2 summary line(s) not read") and "Ses01F-impro01-M003" in n for n in manifest.notes), manifest.notes
    votes = L.read_votes("iemocap", tmp_path)
    assert sorted(votes.records) == ["Ses01F_impro01_F000", "Ses01F_impro01_F002", "Ses01F_impro01_M001"]
    assert "2 summary lines not read" in votes.summary()
    late = votes.records["Ses01F_impro01_F002"]  # its own two evaluators only: Frustration (unmapped) and Anger
    clean = L.read_votes("iemocap", _iemocap_tree(tmp_path / "clean").parent.parent.parent).records["Ses01F_impro01_F002"]
    assert late == clean


def test_iemocap_turn_line_follows_the_documented_fields():
    turn = iemocap.parse_turn_line("[6.2901 - 8.2357]\tSes01F_impro01_M013\tneu\t[2.5000, 3.0000, 2.0000]")
    assert (turn.start, turn.end, turn.utterance, turn.label) == (6.2901, 8.2357, "Ses01F_impro01_M013", "neu")
    assert (turn.dialog, turn.speaker, turn.dimensions()) == ("Ses01F_impro01", "Ses01M", (2.5, 3.0, 2.0))
    assert iemocap.parse_turn_line("C-E2:\tNeutral state;\t()") is None
    assert iemocap.parse_turn_line("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]") is None


#: IEMOCAP's summary-line codes and the evaluators' category names for the same class (the corpus's documentation)
IEMOCAP_DOCUMENTED = {"neu": "Neutral state", "hap": "Happiness", "exc": "Excited", "sad": "Sadness", "ang": "Anger",
                      "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "fru": "Frustration", "oth": "Other"}


def test_iemocap_codes_and_category_names_map_alike():
    for code, name in IEMOCAP_DOCUMENTED.items():
        assert iemocap.LABEL_MAP[code] == iemocap.EVALUATOR_CATEGORIES[name.lower()], (code, name)
    assert iemocap.LABEL_MAP["xxx"] == "" and iemocap.EVALUATOR_CATEGORIES["neutral"] == "neutral"


# ---------------------------------------------------------------------------
# EmoDB: the file name, the manifest and the perception test
# ---------------------------------------------------------------------------
#: the documentation's letters: German initial → English class
EMODB_DOCUMENTED = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}


def test_emodb_file_name_follows_the_documentation():
    name = emodb.parse_name("03a01Fa")  # speaker 03, text a01, Freude (happiness), version a
    assert (name.speaker, name.text, name.emotion, name.version) == ("03", "a01", "F", "a")
    assert emodb.LABEL_MAP[name.emotion] == "happy"
    assert emodb.CLASS_NAMES == EMODB_DOCUMENTED
    for bad in ("03a01Xa", "03c01Fa", "3a01Fa", "03a01Fa.wav", "03a01FA"):
        assert emodb.parse_name(bad) is None, bad


def test_emodb_manifest_and_perception_test_agree_on_every_letter(tmp_path):
    names = [f"03a01{letter}a" for letter in EMODB_DOCUMENTED]
    for n in names:
        sf.write(tmp_path / f"{n}.wav", speech_like(16000, 0.2, seed=2), 16000, subtype="PCM_16")
    lines = ["Nr.\tSatz\terkannt\tnatuerlich"] + [f"{i}\t{n}\t100,0\t90,0" for i, n in enumerate(names, 1)]
    (tmp_path / "erkennung.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    manifest = prepare("emodb", tmp_path)
    assert len(manifest) == len(names)
    for it in manifest:
        # every listener recognised the intended class: the majority is the manifest's emotion ("" for boredom)
        assert it.meta["listener_majority"] == it.emotion, it.id
        assert (it.meta["votes_unmapped"] == 20) == (it.label == "L")


# ---------------------------------------------------------------------------
# CREMA-D, MSP-Podcast, RAVDESS
# ---------------------------------------------------------------------------
def test_crema_d_response_letters_are_the_initials_of_the_file_codes():
    name = crema_d.parse_name("1001_DFA_ANG_XX")
    assert (name.actor, name.sentence, name.emotion, name.level) == ("1001", "DFA", "ANG", "XX")
    assert crema_d.RESPONSE_LETTERS == {"A": "angry", "D": "disgusted", "F": "fearful", "H": "happy", "N": "neutral", "S": "sad"}
    for code, key in crema_d.LABEL_MAP.items():
        assert crema_d.RESPONSE_LETTERS[code[0]] == key
    assert crema_d.parse_name("1001_DFA_CAL_XX") is None


def test_msp_podcast_letters_and_long_names_map_alike():
    documented = {"A": "Angry", "S": "Sad", "H": "Happy", "U": "Surprise", "F": "Fear", "D": "Disgust", "C": "Contempt",
                  "N": "Neutral", "O": "Other"}
    for letter, name in documented.items():
        assert msp_podcast.VOTE_CLASSES[letter.lower()] == msp_podcast.VOTE_CLASSES[name.lower()], (letter, name)
    assert msp_podcast.VOTE_CLASSES["contempt"] == ""


def test_msp_podcast_dimensions_off_the_1_to_7_scale_are_left_out_and_named(tmp_path):
    """EmoAct/EmoVal/EmoDom are means of 1–7 ratings: 'abc', 'nan', 'inf', 1e400 or 0.5 in the consensus file were
    written into meta as NaN or Infinity without a word."""
    (tmp_path / "Audios").mkdir()
    (tmp_path / "Labels").mkdir()
    for name in ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001"):
        sf.write(tmp_path / "Audios" / f"{name}.wav", speech_like(dur=0.5), 16000)
    (tmp_path / "Labels" / "labels_consensus.csv").write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,A,abc,nan,1e400,127,Female,Train\n"
        "MSP-PODCAST_0002_0001.wav,S,7.0,1.0,0.5,12,Male,Test1\n", encoding="utf-8")
    m = msp_podcast.prepare(tmp_path)
    a, s = sorted(m, key=lambda it: it.id)
    assert not {"act", "val", "dom"} & set(a.meta)
    assert (s.meta["act"], s.meta["val"], "dom" in s.meta) == (7.0, 1.0, False)  # the scale's ends are on it
    note = next(n for n in m.notes if "1–7 scale" in n)
    assert note.startswith("4 dimension value(s)") and "MSP-PODCAST_0002_0001.wav EmoDom='0.5'" in note


def test_msp_podcast_says_why_rows_were_skipped_and_refuses_a_segment_listed_twice(tmp_path, caplog):
    """A class letter the corpus lacks was reported as 'files do not follow the corpus's naming'; a FileName listed
    twice (Train and Development) got the generic advice to give every row its own id."""
    (tmp_path / "Audios").mkdir()
    (tmp_path / "Labels").mkdir()
    for name in ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001"):
        sf.write(tmp_path / "Audios" / f"{name}.wav", speech_like(dur=0.5), 16000)
    table = tmp_path / "Labels" / "labels_consensus.csv"
    header = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
    table.write_text(header + "MSP-PODCAST_0001_0008.wav,A,4,4,4,1,Male,Train\n"
                     "MSP-PODCAST_0002_0001.wav,Q,4,4,4,2,Male,Train\n"
                     "MSP-PODCAST_0009_0001.wav,S,4,4,4,3,Male,Train\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert [it.id for it in msp_podcast.prepare(tmp_path)] == ["MSP-PODCAST_0001_0008"]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "1 without their audio file" in said and "1 with a class letter the corpus does not have" in said
    assert "naming" not in said
    table.write_text(header + "MSP-PODCAST_0001_0008.wav,A,4,4,4,1,Male,Train\n"
                     "MSP-PODCAST_0001_0008.wav,A,4,4,4,1,Male,Development\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="twice") as err:
        msp_podcast.prepare(tmp_path)
    assert "'Train' and 'Development'" in str(err.value) and "release" in err.value.fix


def _msp_folder(root, names, dur, rows):
    """Audios/ with ``names`` as WAVs of ``dur`` seconds, Labels/labels_consensus.csv with the header and ``rows``."""
    (root / "Audios").mkdir()
    (root / "Labels").mkdir()
    for name in names:
        sf.write(root / "Audios" / f"{name}.wav", speech_like(dur=dur), 16000)
    (root / "Labels" / "labels_consensus.csv").write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n" + rows, encoding="utf-8")


def test_msp_podcast_manifest_follows_the_consensus_file(tmp_path):
    """Audios/ + Labels/labels_consensus.csv as distributed: the letter is the label, X stays unlabelled, the split
    and dimensions are kept, a row without audio is skipped and counted, the early misspelt file name is read too."""
    _msp_folder(tmp_path, ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001", "MSP-PODCAST_0003_0004"), 0.5,
                "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female,Train\n"
                "MSP-PODCAST_0002_0001.wav,X,4.0,4.2,4.4,Unknown,Unknown,Test1\n"
                "MSP-PODCAST_0003_0004.wav,C,3.0,3.4,4.0,12,Male,Development\n"
                "MSP-PODCAST_0009_0009.wav,H,4.0,6.0,4.0,13,Male,Train\n")
    m = msp_podcast.prepare(tmp_path)
    by_id = {it.id: it for it in m}
    assert sorted(by_id) == ["MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001", "MSP-PODCAST_0003_0004"]
    a, x, c = (by_id[k] for k in sorted(by_id))
    assert (a.label, a.emotion, a.speaker, a.gender, a.split, a.meta["val"]) == ("A", "angry", "msp_127", "female", "Train", 2.0)
    assert (x.label, x.emotion, x.speaker, x.meta["label_name"], x.split) == ("X", "", "", "", "Test1")
    assert (c.emotion, c.meta["label_name"], c.split) == ("", "contempt", "Development")
    (tmp_path / "Labels" / "labels_consensus.csv").rename(tmp_path / "Labels" / "labels_concensus.csv")
    assert len(msp_podcast.prepare(tmp_path)) == 3
    (tmp_path / "Labels" / "labels_concensus.csv").unlink()
    with pytest.raises(ConfigError, match="labels_consensus"):
        msp_podcast.prepare(tmp_path)


def test_msp_podcast_audio_without_a_consensus_row_is_counted_in_the_notes(tmp_path):
    """The MSP lab's page for release 1.11: Test3 "comprises 2,347 unique segments … for which the labels are not
    publicly available … The release only includes the audio information".  Audio files without a row in the consensus
    file were dropped without a word, so a release's Test3 audio vanished from the manifest unsaid."""
    _msp_folder(tmp_path, ("MSP-PODCAST_0001_0008", "MSP-PODCAST_4000_0001", "MSP-PODCAST_4000_0002"), 0.3,
                "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female,Train\n")
    m = msp_podcast.prepare(tmp_path)
    assert [it.id for it in m] == ["MSP-PODCAST_0001_0008"]
    note = next(n for n in m.notes if "no row in labels_consensus.csv" in n)
    assert note.startswith("2 audio file(s)") and "Audios/MSP-PODCAST_4000_0001.wav" in note and "Test3" in note
    assert "1.11" in msp_podcast.__doc__ and "1.12, ``Test3``" not in msp_podcast.__doc__


def test_msp_podcast_validation_partition_of_earlier_releases_is_held_out(tmp_path):
    """Earlier releases (1.6, 1.8: public loaders of them select ``Split_Set == 'Validation'``) call the validation set
    ``Validation`` where 1.11 on say ``Development``: it is kept as written and read as the held-out set, never trained on."""
    _msp_folder(tmp_path, ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001"), 0.3,
                "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female,Train\n"
                "MSP-PODCAST_0002_0001.wav,N,4.0,4.2,4.4,12,Male,Validation\n")
    m = msp_podcast.prepare(tmp_path)
    assert [it.split for it in m] == ["Train", "Validation"]
    assert "Validation 1 (held out (validation))" in m.notes[-1]


@pytest.mark.parametrize("folder, name", [("labels", "labels_concensus.csv"), ("label", "labels_concensus.csv"),
                                          ("Labels", "labels_consensus.csv")])
def test_msp_podcast_labels_folder_is_found_in_each_releases_spelling(tmp_path, folder, name):
    """Releases name the labels folder ``Labels`` (1.7, 1.8, 1.10 on), ``labels`` (1.9) or ``label`` (1.6), and the
    consensus file ``labels_concensus.csv`` in 1.6 to 1.9 (1.10 corrected it): on a case-sensitive file system only ``Labels/`` was looked in."""
    (tmp_path / "Audios").mkdir()
    (tmp_path / folder).mkdir()
    sf.write(tmp_path / "Audios" / "MSP-PODCAST_0001_0008.wav", speech_like(dur=0.5), 16000)
    (tmp_path / folder / name).write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                                          "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female,Train\n", encoding="utf-8")
    m = msp_podcast.prepare(tmp_path)
    assert [(it.id, it.label, it.split) for it in m] == [("MSP-PODCAST_0001_0008", "A", "Train")]


def test_msp_podcast_split_set_fills_the_split_column_and_each_test_set_stays_apart(tmp_path, capsys):
    """Split_Set goes to the manifest's ``split`` as written (it went to meta only: ``probe --scheme split`` found 0 train
    and 0 test items); the CSV the CLI writes keeps it, and the notes count each partition and its role."""
    from workbench.cli import main
    from workbench.data.manifest import read_manifest
    from workbench.schema import split_role

    (tmp_path / "c" / "Audios").mkdir(parents=True)
    (tmp_path / "c" / "Labels").mkdir()
    parts = ["Train", "Train", "Development", "Test1", "Test2", "Test3"]
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    for i, part in enumerate(parts):
        sf.write(tmp_path / "c" / "Audios" / f"MSP-PODCAST_000{i}_0001.wav", speech_like(dur=0.3), 16000)
        lines.append(f"MSP-PODCAST_000{i}_0001.wav,{'AHSNAH'[i]},4,4,4,{i},Male,{part}")
    (tmp_path / "c" / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["datasets", "prepare", "msp-podcast", str(tmp_path / "c"), "--out", str(tmp_path / "msp.csv")]) == 0
    err = capsys.readouterr().err
    assert "Development 1 (held out (validation))" in err and "Test2 1 (a test set)" in err and "Train 2 (train)" in err
    m = read_manifest(tmp_path / "msp.csv")
    assert [it.split for it in m] == parts
    assert [split_role(it.split) for it in m] == ["train", "train", "dev", "test", "test", "test"]


def test_ravdess_file_name_follows_the_readme():
    name = ravdess.parse_name("03-01-06-01-02-01-12")
    assert (name.modality, name.channel, name.emotion, name.intensity, name.statement, name.repetition, name.actor) == (
        "03", "01", "06", "01", "02", "01", "12")
    assert ravdess.LABEL_MAP["06"] == "fearful" and ravdess.CLASS_NAMES["02"] == "calm"
    assert ravdess.parse_name("03-01-09-01-02-01-12") is None


def test_tess_and_esd_names():
    assert tess.parse_name("OAF_back_angry") == tess.FileName("OAF", "back", "angry")
    assert tess.parse_name("yaf_bath_PS").emotion == "ps"
    assert esd.parse_path(Path("0011/Angry/train/0011_000351.wav")) == ("0011", "Angry", "train")
    assert esd.parse_path(Path("0002/Happy/0002_000701.wav")) == ("0002", "Happy", "")
    assert esd.parse_path(Path("0002/Bored/0002_000701.wav")) is None


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------
def test_the_registry_knows_every_corpus_module():
    modules = {p.stem for p in (PACKAGE / "data" / "corpora").glob("*.py")} - {"__init__", "common", "registry", "emobox", "folder"}
    assert {m.__name__.rsplit(".", 1)[1] for m in CORPORA.values()} == modules
    assert list(PREPARERS) == ["emodb", "ravdess", "crema-d", "tess", "iemocap", "esd", "casia", "msp-podcast"]
    for name, module in CORPORA.items():
        assert module.NAME == name
        for label, key in (getattr(module, "LABEL_MAP", None) or {}).items():
            assert key == "" or key in LABEL_KEYS, (name, label, key)
    assert LABEL_MAPS["casia"] is casia.LABEL_MAP and PREPARERS["tess"] is tess.prepare
    # every corpus's listener formats reach read_votes, the generic one besides
    assert set(L.FORMATS) == set(VOTE_FORMATS) | {"generic"}
    assert VOTE_FORMATS["iemocap"][0] is iemocap.read_evaluation


def test_old_import_paths_name_the_modules_objects():
    from workbench.data.corpora import prepare_emodb, prepare_iemocap

    assert prepare_emodb is emodb.prepare and prepare_iemocap is iemocap.prepare
    assert L.read_emodb_erkennung is emodb.read_erkennung and L.read_crema_d_tabulated is crema_d.read_tabulated
    assert L.read_msp_podcast is msp_podcast.read_labels and L.EMODB_LETTERS is emodb.LABEL_MAP


def test_an_unknown_corpus_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown corpus 'savee'; known: emodb, ravdess, crema-d"):
        prepare("savee", tmp_path)
    with pytest.raises(ConfigError, match="crema-d corpus folder not found"):
        prepare("CremaD", tmp_path / "nope")


def _msp_early_release(root, rows, partitions):
    """A release 1.0–1.5 as laid out: Audios/, Labels/labels_concensus.csv without Split_Set, Partitions.txt on top."""
    (root / "Audios").mkdir()
    (root / "Labels").mkdir()
    for name in ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001", "MSP-PODCAST_0003_0004", "MSP-PODCAST_0004_0002"):
        sf.write(root / "Audios" / f"{name}.wav", speech_like(dur=0.3), 16000)
    (root / "Labels" / "labels_concensus.csv").write_text(rows, encoding="utf-8")
    (root / "Partitions.txt").write_text(partitions, encoding="utf-8")


def test_msp_podcast_early_release_takes_its_split_from_partitions_txt(tmp_path):
    """Releases 1.0–1.5 have no Split_Set column (a public loader of 1.6–1.11 refuses them: "Podcast 1.0-1.5 use a different
    label file"); the partitions are in the release's Partitions.txt, ``Train; MSP-PODCAST_0023_0048.wav`` a line (public
    code reading MSP-PODCAST-Publish-1.8/Partitions.txt, index 27815778836).  The reader left every split empty, so
    ``--scheme split`` found no train and no test item; it reads Partitions.txt, counts a row it does not list, names a
    line it cannot read, and refuses a file given two partitions."""
    _msp_early_release(tmp_path, "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender\n"
                       "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female\n"
                       "MSP-PODCAST_0002_0001.wav,N,4.0,4.2,4.4,12,Male\n"
                       "MSP-PODCAST_0003_0004.wav,S,3.0,3.4,4.0,13,Male\n"
                       "MSP-PODCAST_0004_0002.wav,H,3.0,3.4,4.0,14,Female\n",
                       "Train; MSP-PODCAST_0001_0008.wav\nValidation; MSP-PODCAST_0002_0001.wav\n\n"
                       "Test1;MSP-PODCAST_0003_0004.wav\nthis line is no partition\n")
    m = msp_podcast.prepare(tmp_path)
    assert {it.id: it.split for it in m} == {"MSP-PODCAST_0001_0008": "Train", "MSP-PODCAST_0002_0001": "Validation",
                                            "MSP-PODCAST_0003_0004": "Test1", "MSP-PODCAST_0004_0002": ""}
    assert any(n.startswith("split from ") and "Partitions.txt" in n and "1 row(s) of labels_concensus.csv are not in it" in n
               for n in m.notes)
    assert any(n.startswith("1 line(s) of Partitions.txt") and "line 5" in n for n in m.notes)
    assert "Train 1 (train)" in m.notes[-1] and "Test1 1 (a test set)" in m.notes[-1]
    (tmp_path / "Partitions.txt").write_text("Train; MSP-PODCAST_0001_0008.wav\nTest1; MSP-PODCAST_0001_0008.wav\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="two partitions, 'Train' \\(line 1\\) and 'Test1' \\(line 2\\)"):
        msp_podcast.prepare(tmp_path)
    (tmp_path / "Partitions.txt").unlink()
    m = msp_podcast.prepare(tmp_path)
    assert {it.split for it in m} == {""} and "no Partitions.txt" in m.notes[-1]


def test_msp_podcast_split_set_wins_over_partitions_txt_and_a_disagreement_is_named(tmp_path):
    """A release with both (1.8 ships Partitions.txt beside Split_Set): Split_Set is kept, a file the two place apart is
    named, so copies of two releases mixed into one folder are seen."""
    _msp_early_release(tmp_path, "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                       "MSP-PODCAST_0001_0008.wav,A,5.2,2.0,5.6,127,Female,Train\n"
                       "MSP-PODCAST_0002_0001.wav,N,4.0,4.2,4.4,12,Male,Test1\n",
                       "Train; MSP-PODCAST_0001_0008.wav\nTrain; MSP-PODCAST_0002_0001.wav\n")
    m = msp_podcast.prepare(tmp_path)
    assert [it.split for it in m] == ["Train", "Test1"]
    assert any(n.startswith("1 file(s) are in another partition in Partitions.txt") and "MSP-PODCAST_0002_0001.wav (Test1 / Train)" in n
               for n in m.notes)


def test_msp_podcast_without_a_consensus_file_names_the_early_releases_fix(tmp_path):
    """A release before 1.6 names its labels otherwise: the refusal says how to go on, not only what is missing."""
    (tmp_path / "Audios").mkdir()
    (tmp_path / "Labels").mkdir()
    with pytest.raises(ConfigError) as err:
        msp_podcast.prepare(tmp_path)
    assert "before 1.6" in err.value.fix and "Previous_releases_information" in err.value.fix and "Partitions.txt" in err.value.fix


def test_msp_podcast_release_unpacked_into_a_folder_of_its_own_is_read(tmp_path):
    """The release unpacks into ``MSP-PODCAST-Publish-1.11/`` (public loaders point at that folder); the folder it was
    unpacked into was refused as holding no labels file.  Its Partitions.txt is found there too; two releases side by
    side are refused."""
    release = tmp_path / "MSP-PODCAST-Publish-1.5"
    release.mkdir()
    _msp_early_release(release, "FileName,EmoClass\nMSP-PODCAST_0001_0008.wav,A\nMSP-PODCAST_0002_0001.wav,N\n",
                       "Train; MSP-PODCAST_0001_0008.wav\nTest2; MSP-PODCAST_0002_0001.wav\n")
    m = msp_podcast.prepare(tmp_path)
    assert {it.id: (it.label, it.split) for it in m} == {"MSP-PODCAST_0001_0008": ("A", "Train"), "MSP-PODCAST_0002_0001": ("N", "Test2")}
    assert [it.path for it in m][0] == "MSP-PODCAST-Publish-1.5/Audios/MSP-PODCAST_0001_0008.wav"
    (tmp_path / "MSP-PODCAST-Publish-1.6" / "Labels").mkdir(parents=True)
    (tmp_path / "MSP-PODCAST-Publish-1.6" / "Labels" / "labels_concensus.csv").write_text("FileName,EmoClass\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds 2 MSP-Podcast releases' labels"):
        msp_podcast.prepare(tmp_path)
