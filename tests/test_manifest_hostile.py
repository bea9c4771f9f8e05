"""Manifests a careless or hostile collaborator could hand over: line ends, encodings, links and special files.

Each case was read wrongly before (a traceback, a valid file refused, a row cap passed by, a file's first line printed)."""

from __future__ import annotations

import codecs
import os

import pytest

import workbench.data.manifest as manifest_module
from test_corpora import wav
from workbench.data.manifest import Item, Manifest, read_manifest, write_manifest
from workbench.errors import ConfigError


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c"])
def test_a_jsonl_manifest_with_a_unicode_line_separator_in_a_transcript_reads_back(tmp_path, separator):
    wav(tmp_path / "a.wav")
    text = f"first sentence{separator}second sentence"
    path = write_manifest(Manifest([Item(id="a", path=str(tmp_path / "a.wav"), text=text)]), tmp_path / "m.jsonl")
    assert read_manifest(path).items[0].text == text  # JSON Lines ends a line at \n only


def test_a_csv_with_old_mac_line_ends_is_read_not_a_traceback(tmp_path):
    wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_bytes(b"id,path\rx,a.wav\ry,a.wav\r")
    assert [it.id for it in read_manifest(tmp_path / "m.csv").items] == ["x", "y"]


def test_rows_ended_by_a_lone_cr_count_towards_the_row_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_module, "TABLE_MAX_ROWS", 50)
    wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_bytes(("id,path\r" + "".join(f"r{i},a.wav\r" for i in range(60))).encode())
    with pytest.raises(ConfigError, match="has 61 lines; a manifest holds at most 50 rows"):
        read_manifest(tmp_path / "m.csv")


def test_a_utf16_manifest_of_gurmukhi_text_is_not_counted_as_a_line_per_letter(tmp_path, monkeypatch):
    """In UTF-16 every Gurmukhi letter (U+0A00–U+0A7F) holds a 0x0A byte: counting b"\\n" refused a small file."""
    monkeypatch.setattr(manifest_module, "TABLE_MAX_ROWS", 50)
    wav(tmp_path / "a.wav")
    rows = "id,path,text\n" + "".join(f"r{i},a.wav,ਪੰਜਾਬੀ ਗੱਲਬਾਤ\n" for i in range(20))
    (tmp_path / "m.csv").write_bytes(codecs.BOM_UTF16_LE + rows.encode("utf-16-le"))
    items = read_manifest(tmp_path / "m.csv").items
    assert len(items) == 20 and items[0].text == "ਪੰਜਾਬੀ ਗੱਲਬਾਤ"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_a_device_given_as_a_manifest_is_named_as_such_not_missing(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    for name in ("pipe.csv", "zero.csv"):
        with pytest.raises(ConfigError, match="is not a regular file") as info:
            read_manifest(tmp_path / name)
        assert "not found" not in str(info.value)


@pytest.mark.parametrize("secret", ["root:$6$saltsalt$c2VjcmV0aGFzaA:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n",
                                    "root:$6$saltsalt$c2VjcmV0aGFzaA,x:19000\nbin:*,a,b:19000:0:99999:7:::\n"])
def test_a_csv_link_to_a_password_file_does_not_print_its_first_line(tmp_path, secret):
    (tmp_path / "shadow").write_text(secret)
    (tmp_path / "m.csv").symlink_to(tmp_path / "shadow")
    with pytest.raises(ConfigError) as info:
        read_manifest(tmp_path / "m.csv")
    message = str(info.value)
    assert "c2VjcmV0aGFzaA" not in message and "saltsalt" not in message
    assert "characters>" in message  # the cell is named by its length


def test_a_header_of_ordinary_names_is_still_listed(tmp_path):
    (tmp_path / "m.csv").write_text("name,file\na,a.wav\n")
    with pytest.raises(ConfigError, match=r"it has \['file', 'name'\]"):
        read_manifest(tmp_path / "m.csv")
