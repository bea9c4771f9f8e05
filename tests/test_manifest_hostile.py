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


CONTROL_IDS = ["clip\x1b[2Jgone", "bell\x07", "two\nerror: a forged line", "clip\u202eVAW.exe", "c1\x85next", "tab\there",
               "nul\x00byte", "lsep\u2028x"]


@pytest.mark.parametrize("bad", CONTROL_IDS)
@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_an_id_holding_a_control_character_is_refused_by_row_with_the_id_escaped(tmp_path, bad, ext):
    """An id with ESC, BEL, a line break (inside a quoted CSV field), U+202E or another C0/C1 control was read, and the
    printers that keep line breaks (metrics, listeners) printed it as it is: a forged line on screen, a reversed one."""
    wav(tmp_path / "a.wav")
    path = write_manifest(Manifest([Item(id="fine", path="a.wav"), Item(id=bad, path="a.wav")], root=tmp_path), tmp_path / f"m{ext}")
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    message, rendered = str(info.value), info.value.render()
    assert f"row 2: {bad!r}" in message and "ids or labels holding a control character" in message, message
    assert info.value.source == str(path) and "take those characters out of the ids and labels" in info.value.fix
    assert rendered.count("\n") == 1 and all(ch.isprintable() for ch in rendered.replace("\n", "")), repr(rendered)


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_a_label_holding_a_control_character_is_refused_by_row(tmp_path, ext):
    """A manifest label hap\x00py (NUL) was read as a class of its own, and printed as it is."""
    wav(tmp_path / "a.wav")
    items = [Item(id="a", path="a.wav", label="sad"), Item(id="b", path="a.wav", label="hap\x00py")]
    path = write_manifest(Manifest(items, root=tmp_path), tmp_path / f"m{ext}")
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    assert "row 2: label 'hap\\x00py'" in str(info.value) and info.value.source == str(path), str(info.value)
    assert "take those characters out of the ids and labels" in info.value.fix


def test_ids_with_other_invisible_but_textual_characters_are_still_read(tmp_path):
    """A no-break space (an Excel export), the zero-width non-joiner of a Persian name, an Arabic or CJK id: text, kept."""
    wav(tmp_path / "a.wav")
    ids = ["clip\xa01", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u4f60\u597d_01", "emoji\U0001f600"]
    path = write_manifest(Manifest([Item(id=i, path="a.wav") for i in ids], root=tmp_path), tmp_path / "m.csv")
    assert [it.id for it in read_manifest(path).items] == ids


def test_the_manifest_command_writes_a_file_names_control_characters_as_escapes_in_the_id(tmp_path, capsys):
    """`workbench manifest` names each row after its file; a name holding a carriage return, ESC or U+202E (legal on
    POSIX) gives an id with that character as its escape, said in a note; the path stays the file's own."""
    from workbench.cli import main

    names = {"take\r2.wav": "take\\r2", "x\u202evaw.wav": "x\\u202evaw", "ring\x1b[31m.wav": "ring\\x1b[31m", "plain.wav": "plain"}
    for name in names:
        wav(tmp_path / "audio" / name)
    assert main(["manifest", str(tmp_path / "audio"), "-o", str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err
    assert "3 file name(s) hold a control character" in err and "take\\r2" in err, err
    back = read_manifest(tmp_path / "m.csv")
    assert {it.id: (tmp_path / it.path).resolve() == (tmp_path / "audio" / name).resolve()
            for it, name in zip(back.items, sorted(names))} == {names[n]: True for n in sorted(names)}


def test_a_manifest_built_in_python_with_a_control_character_in_an_id_is_refused_by_run(tmp_path):
    from workbench.runs.driver import run

    wav(tmp_path / "a.wav")
    manifest = Manifest([Item(id="ok", path="a.wav"), Item(id="x\nerror: forged", path="a.wav")], root=tmp_path, name="built")
    with pytest.raises(ConfigError) as info:
        run(manifest, out_dir=tmp_path / "run", model="tiny")
    assert "row 2: 'x\\nerror: forged'" in str(info.value) and info.value.source == "built", str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_skipped_name_with_a_line_break_stays_inside_the_manifest_commands_note(tmp_path, capsys):
    """The note naming the skipped names (a FIFO called "x<LF>error: forged.wav") printed a forged "error:" line."""
    from workbench.cli import main

    wav(tmp_path / "audio" / "ok.wav")
    os.mkfifo(tmp_path / "audio" / "x\nerror: forged.wav")
    assert main(["manifest", str(tmp_path / "audio"), "-o", str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err
    assert "not audio files: x\\nerror: forged.wav (not a regular file)" in err, err
    assert not any(line.startswith("error:") for line in err.splitlines()), err


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_a_manifest_over_the_row_cap_is_refused_before_it_is_read_whole(tmp_path, monkeypatch, ext):
    """The lines were counted in the decoded text: a 2.1M-row CSV was read and decoded (230 MB) to be refused, and
    before that count existed, parsed too (1.5 GB).  Now they are counted on the bytes, a chunk at a time."""
    monkeypatch.setattr(manifest_module, "TABLE_MAX_ROWS", 1000)

    def never(*args, **kwargs):
        raise AssertionError("the whole file was read before the row cap was checked")

    monkeypatch.setattr(manifest_module, "read_bytes_capped", never)
    rows = [f"u{i},a.wav" if ext == ".csv" else f'{{"id": "u{i}", "path": "a.wav"}}' for i in range(1500)]
    (tmp_path / f"m{ext}").write_text("\r\n".join(["id,path"] if ext == ".csv" else []) + "\r\n".join(rows) + "\r\n")
    with pytest.raises(ConfigError, match=r"has 1,50\d lines; a manifest holds at most 1,000 rows"):
        read_manifest(tmp_path / f"m{ext}", validate_files=False)


def test_a_utf16_manifest_over_the_row_cap_is_still_counted_in_its_text(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_module, "TABLE_MAX_ROWS", 50)
    rows = "id,path\n" + "".join(f"r{i},a.wav\n" for i in range(60))
    (tmp_path / "m.csv").write_bytes(codecs.BOM_UTF16_LE + rows.encode("utf-16-le"))
    with pytest.raises(ConfigError, match="has 61 lines; a manifest holds at most 50 rows"):
        read_manifest(tmp_path / "m.csv", validate_files=False)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_lines_counted_on_bytes_equal_lines_counted_in_the_text(tmp_path, chunk):
    from workbench.serialize import count_lines

    text = "id,path\r\nא,a.wav\rb,ਪੰਜਾਬੀ\n\r\nc,\u2028x.wav\r\r\n"  # \r\n split across chunks when chunk is odd
    (tmp_path / "t.csv").write_bytes(text.encode("utf-8"))
    assert count_lines(tmp_path / "t.csv", chunk=chunk) == text.count("\n") + text.count("\r") - text.count("\r\n") == 6
    (tmp_path / "u.csv").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert count_lines(tmp_path / "u.csv", chunk=chunk) is None  # a 0x0A byte of UTF-16 is no line end
    assert count_lines(tmp_path / "t.csv", chunk=chunk, max_bytes=10) is None  # past the byte cap: that check refuses it


def test_a_legal_manifest_reads_the_same_rows_row_by_row(tmp_path):
    """The CSV is parsed one row at a time now (the rows were held as lists beside their dicts): blank lines, short
    rows, quoted commas and line breaks, meta JSON and extra columns read as before."""
    text = ('id,path,label,start,meta,extra\r\n\r\n'
            'a,a.wav,happy,1.5,"{""k"": 1}",x\r\n'
            'b,"b,1.wav",sad,,,"one\nline"\r\n'
            ' , , \r\n'
            'c,c.wav\r\n')
    (tmp_path / "m.csv").write_text(text, encoding="utf-8", newline="")
    m = read_manifest(tmp_path / "m.csv", validate_files=False)
    assert [(it.id, it.path, it.label, it.start, it.meta) for it in m.items] == [
        ("a", "a.wav", "happy", 1.5, {"k": 1, "extra": "x"}), ("b", "b,1.wav", "sad", None, {"extra": "one\nline"}),
        ("c", "c.wav", "", None, {"extra": ""})]
    assert m.items[0].emotion == "happy" and m.items[1].emotion == "sad"  # a line break in a label is refused (below)
    (tmp_path / "long.csv").write_text("id,path\na,a.wav\nb,b.wav,extra\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"row 2 has 3 fields but the header has 2 \['id', 'path'\]"):
        read_manifest(tmp_path / "long.csv", validate_files=False)
