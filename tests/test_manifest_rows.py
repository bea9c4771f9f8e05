"""A CSV manifest's rows made into items while it is read (workbench.data.manifest_rows): the same items, the same
per-row refusals as the dict route (JSONL), a column's repeated values held once, a path's file checked once."""

from __future__ import annotations

import csv
import json

import pytest

from workbench.data.manifest import read_manifest
from workbench.errors import ConfigError

HEADER = ["id", "path", "label", "emotion", "speaker", "split", "start", "duration", "meta", "corpus_label"]
ROWS = [
    ["a1", "clip.wav", "joy", "Happy ", "s1", "train", "0", "1.5", '{"fold": 2}', "J"],
    ["a2", "clip.wav", "anger", "angry", "s1", "train", " 2.5 ", "", "", "A"],
    ["a3", "clip.wav", "calm", "", "s2", "test", "", "nan", '{"corpus_label": "kept?"}', "C"],
    ["a4", "./clip.wav", "sad", "sad", "s2", "test", "1e1", "3", "", ""],
]


def _write(folder, rows, header=HEADER):
    (folder / "clip.wav").write_bytes(b"")
    csv_path, jsonl_path = folder / "m.csv", folder / "m.jsonl"
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    jsonl_path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows))
    return csv_path, jsonl_path


def test_a_csv_manifest_gives_the_items_the_dict_route_gives(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[2][7] = "4"  # (nan is refused by the validation: a valid file here)
    csv_path, jsonl_path = _write(tmp_path, rows)
    fast, slow = read_manifest(csv_path), read_manifest(jsonl_path)
    assert [it.to_dict() for it in fast] == [it.to_dict() for it in slow]
    assert fast.items[0].emotion == "happy" and fast.items[0].meta == {"fold": 2, "corpus_label": "J"}
    assert fast.items[2].meta == {"corpus_label": "C"}  # the column wins over the meta key, as from_dict does
    assert fast.items[1].start == 2.5 and fast.items[1].duration is None


def test_without_an_emotion_column_the_label_gives_the_emotion_on_both_routes(tmp_path):
    header = [h for h in HEADER if h != "emotion"]
    rows = [[c for h, c in zip(HEADER, r) if h != "emotion"] for r in ROWS[:2]]
    csv_path, jsonl_path = _write(tmp_path, rows, header)
    assert [it.emotion for it in read_manifest(csv_path)] == [it.emotion for it in read_manifest(jsonl_path)] == ["happy", "angry"]


def test_every_bad_row_is_still_named_by_file_row_column_and_value(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][6], rows[1][7], rows[3][8] = "soon", "1,5", "[1]"
    for path in _write(tmp_path, rows):
        with pytest.raises(ConfigError) as err:
            read_manifest(path)
        message = str(err.value)
        assert str(path) in message and "3 rows cannot be read" in message
        assert "row 1: start='soon' is not a number of seconds" in message
        assert "row 2: duration='1,5' is not a number of seconds" in message
        assert "row 4: meta is not a JSON object" in message


def test_a_columns_repeated_values_are_one_string_each(tmp_path):
    """10^6 rows held 0.6 GB, mostly strings: every row's 'train', 'happy', 'clip.wav' its own object."""
    rows = [[f"id{i}", "clip.wav", "joy", "happy", "spk1", "train", "", "", "", "J"] for i in range(50)]
    items = read_manifest(_write(tmp_path, rows)[0]).items
    for name in ("path", "label", "speaker", "split"):
        assert len({id(getattr(it, name)) for it in items}) == 1, name
    assert len({id(it.meta["corpus_label"]) for it in items}) == 1
    assert not hasattr(items[0], "__dict__")  # slots: no dict per item


def test_a_missing_file_and_a_folder_are_still_named_when_one_path_is_checked_once(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    rows = [[f"id{i}", p, "", "", "", "", "", "", "", ""] for i, p in enumerate(["clip.wav", "gone.wav", "folder.wav", "gone.wav", "clip.wav/"])]
    with pytest.raises(ConfigError) as err:
        read_manifest(_write(tmp_path, rows)[0])
    # clip.wav/ is clip.wav to pathlib, and was never listed: one os.stat fails on it, file_problem's answer stands
    # gone.wav on two rows is named once with its count (the segments of one long file repeated its name ten times)
    assert "3 rows naming 2 missing files (gone.wav ×2, folder.wav (is a directory))" in str(err.value)


def test_the_garbage_collector_is_on_again_after_a_read_and_after_a_refusal(tmp_path):
    """Reading pauses Python's cyclic collector (half the time of 10^6 rows was its); it must never stay off."""
    import gc

    rows = [list(r) for r in ROWS]
    rows[2][7] = "4"
    good = _write(tmp_path, rows)[0]
    assert len(read_manifest(good)) == 4 and gc.isenabled()
    rows[0][6] = "soon"
    (tmp_path / "bad").mkdir()
    bad = _write(tmp_path / "bad", rows)[0]
    with pytest.raises(ConfigError):
        read_manifest(bad)
    assert gc.isenabled()
    gc.disable()  # a caller who turned it off keeps it off
    try:
        read_manifest(good)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_segments_of_one_missing_long_file_name_it_once():
    """72 segments of long_dialogue.wav, the file gone: "72 missing files (long_dialogue.wav, long_dialogue.wav, … ×10)"."""
    from workbench.data.manifest import _counted

    assert _counted(["long.wav"] * 72, "missing files") == "72 rows naming 1 missing file (long.wav ×72)"
    assert _counted(["a.wav", "b.wav"], "missing files") == "2 missing files (a.wav, b.wav)"
    assert _counted(["x", "x"], "duplicate ids") == "2 duplicate ids (x, x)"  # other kinds keep their listing
