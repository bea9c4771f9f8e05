"""EmoBox's metadata read a line at a time, as JSON Lines ends its lines, with the manifest reader's behaviour.

The reader read the whole file, split it with ``str.splitlines`` (which breaks at U+2028, U+0085, form feeds and lone
carriage returns) and joined the pieces with ``\\n``: a valid line holding U+2028 in a value was refused as "not valid
JSON", and the line numbers of every later error were off.  EmoBox's files (github.com/emo-box/EmoBox,
``data/<dataset>/fold_<k>/<dataset>_{train,test}_fold_<k>.jsonl``) are JSON Lines: one object per line with ``key,
dataset, wav, type, sample_rate, num_frame, task, length, emo, channel``; each fold also ships as a ``.json`` object.
"""

import json

import pytest

from workbench import serialize
from workbench.data.corpora import import_emobox
from workbench.data.manifest import read_manifest
from workbench.errors import ConfigError


def rec(key, wav, emo="neu"):
    return {"key": key, "dataset": "iemocap", "wav": wav, "type": "raw", "sample_rate": 16000, "num_frame": 16000.0,
            "task": "category", "length": 1.0, "emo": emo, "channel": 1}


def write(path, lines):
    path.write_bytes("".join(lines).encode("utf-8"))
    return path


def test_a_line_break_character_inside_a_value_is_text_and_blank_lines_are_skipped(tmp_path):
    jf = write(tmp_path / "iemocap_test_fold_1.jsonl", [
        "\ufeff" + json.dumps(rec("iemocap-a", "downloads/a\u2028b.wav"), ensure_ascii=False) + "\n",
        "\n", "   \n",
        json.dumps(rec("iemocap-b\u0085c", "downloads/b.wav", "ang"), ensure_ascii=False) + "\r\n",
    ])
    m = import_emobox([jf], root=tmp_path)
    assert [(it.id, it.path, it.label) for it in m] == [("iemocap-a", "downloads/a\u2028b.wav", "neu"),
                                                       ("iemocap-b\u0085c", "downloads/b.wav", "ang")]
    assert [it.meta["folds"] for it in m] == [{"1": "test"}] * 2


@pytest.mark.parametrize("bad, says", [
    ("{not json\n", "line 4 is not valid JSON"),
    ('{"key": "x", "emo": "neu"}\n', "line 4 lacks wav"),
    ("[1, 2]\n", "line 4 is a JSON list, not an object"),
])
def test_a_malformed_line_is_named_by_its_number_in_the_file(tmp_path, bad, says):
    jf = write(tmp_path / "iemocap_train_fold_1.jsonl", [
        json.dumps(rec("iemocap-a", "downloads/a\u2028b.wav"), ensure_ascii=False) + "\n",  # splitlines made this two lines
        "\n",
        json.dumps(rec("iemocap-b", "downloads/b.wav")) + "\n",
        bad,
        json.dumps(rec("iemocap-c", "downloads/c.wav")) + "\n",
    ])
    with pytest.raises(ConfigError) as err:
        import_emobox([jf], root=tmp_path)
    assert says in str(err.value) and str(jf) in str(err.value)


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path):
    jf = tmp_path / "iemocap_test_fold_2.jsonl"
    jf.write_bytes(json.dumps(rec("a", "a.wav")).encode() + b"\n" + b'{"key": "b\xe9", "wav": "b.wav", "emo": "neu"}\n')
    with pytest.raises(ConfigError, match=r"line 2 is not UTF-8 text \(byte 0xe9 at column 11\)"):
        import_emobox([jf], root=tmp_path)


def test_a_lone_carriage_return_is_said_as_the_manifest_reader_says_it(tmp_path):
    """The manifest reader and the EmoBox reader end lines alike: the same bytes give the same verdict."""
    text = json.dumps({"id": "a", "path": "a.wav", "key": "a", "wav": "a.wav", "emo": "neu"}) + "\r" + \
        json.dumps({"id": "b", "path": "b.wav", "key": "b", "wav": "b.wav", "emo": "neu"}) + "\r"
    (tmp_path / "m.jsonl").write_text(text, encoding="utf-8", newline="")
    (tmp_path / "iemocap_test_fold_1.jsonl").write_text(text, encoding="utf-8", newline="")
    with pytest.raises(ConfigError) as as_manifest:
        read_manifest(tmp_path / "m.jsonl", validate_files=False)
    with pytest.raises(ConfigError) as as_emobox:
        import_emobox([tmp_path / "iemocap_test_fold_1.jsonl"], root=tmp_path)
    assert "line 1 is not valid JSON" in str(as_emobox.value) and serialize.LONE_CR in str(as_emobox.value)
    assert str(as_manifest.value).split(": ", 1)[1].split(". Fix")[0] == str(as_emobox.value).split(": ", 1)[1].split(". Fix")[0]


def test_the_json_form_of_a_fold_is_refused_with_the_jsonl_named(tmp_path):
    jf = tmp_path / "iemocap_test_fold_1.json"
    jf.write_text(json.dumps({"iemocap-a": {"wav": "a.wav", "emo": "neu", "length": 1.0}}, indent=4), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.json form of a fold.*pass iemocap_test_fold_1\.jsonl"):
        import_emobox([jf], root=tmp_path)


def test_a_file_over_the_line_cap_is_refused_before_it_is_all_read(tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "TABLE_MAX_ROWS", 3)
    jf = write(tmp_path / "iemocap_test_fold_1.jsonl", [json.dumps(rec(f"k{i}", f"{i}.wav")) + "\n" for i in range(5)])
    with pytest.raises(ConfigError, match="at line 4"):
        import_emobox([jf], root=tmp_path)
    monkeypatch.setattr(serialize, "TABLE_MAX_ROWS", 5)
    assert len(import_emobox([jf], root=tmp_path)) == 5


def test_fold_files_named_without_the_underscore_before_the_number_give_split_and_fold(tmp_path):
    """EmoBox's data/emodb/fold_<k>/ holds emodb_test_fold1.jsonl beside emodb_test_fold_1.jsonl; the reader matched
    only the second spelling, so the first imported with no split and no fold, and nothing said so."""
    (tmp_path / "emodb" / "fold_1").mkdir(parents=True)
    tr = write(tmp_path / "emodb" / "fold_1" / "emodb_train_fold1.jsonl", [json.dumps(rec("a", "a.wav")) + "\n"])
    te = write(tmp_path / "emodb" / "fold_1" / "emodb_test_fold1.jsonl", [json.dumps(rec("b", "b.wav")) + "\n"])
    m = import_emobox([tr, te], root=tmp_path)
    got = {it.id: (it.split, it.meta.get("folds")) for it in m.items}
    assert got == {"a": ("train", {"1": "train"}), "b": ("test", {"1": "test"})}
    assert m.notes == []


def test_a_file_name_that_is_no_fold_files_is_named_in_a_note(tmp_path):
    (tmp_path / "emodb").mkdir()
    whole = write(tmp_path / "emodb" / "emodb.jsonl", [json.dumps(rec("a", "a.wav")) + "\n"])
    other = write(tmp_path / "emodb_fold1_test.jsonl", [json.dumps(rec("b", "b.wav")) + "\n"])
    m = import_emobox([whole, other], root=tmp_path)
    assert [(it.split, it.meta.get("folds")) for it in m.items] == [("", None), ("", None)]
    assert len(m.notes) == 2
    assert "emodb.jsonl: EmoBox's whole-corpus list" in m.notes[0] and "no split and no fold" in m.notes[0]
    assert "emodb_fold1_test.jsonl: the name is not an EmoBox fold file's" in m.notes[1]
    assert "<dataset>_<split>_fold<k>.jsonl" in m.notes[1]
