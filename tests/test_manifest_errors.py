"""Malformed manifests and bad output folders: a message with the fix, exit 2, no traceback, no model load.

Each case is a file a user could really hand the workbench.  The model is
pointed at a checkpoint folder that does not exist: had the command loaded the
model before checking its inputs, the error would be about the checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from test_corpora import wav
from workbench.audio.decoders import check_audio_path
from workbench.audio.intake import decode
from workbench.cli import main
from workbench.errors import AudioError, ConfigError
from workbench.data.manifest import Item, Manifest, read_manifest, validate, write_manifest
from workbench.runs.folder import RunFolder

REPO = Path(__file__).resolve().parent.parent


def _write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# name, file name, content, what the message must say
CASES = [
    ("zero-byte CSV", "m.csv", b"", "empty (0 bytes)"),
    ("header only", "m.csv", "id,path,label\n", "has no rows"),
    ("unbalanced quote", "m.csv", 'id,path\n"a,a.wav\n', "not valid CSV"),
    ("Latin-1 text", "m.csv", "id,path,label\na,a.wav,col\xe8re\n".encode("latin-1"), "not UTF-8 text (byte 0xe8 on line 2)"),
    ("more fields than the header", "m.csv", "id,path\na,a.wav,extra\n", "row 1 has 3 fields but the header has 2"),
    # European Excel's CSV: it said "quote fields that contain commas"
    ("semicolon-separated", "m.csv", "id;path;text\na;a.wav;Kids, are talking\n", "its header is separated by semicolons"),
    ("UTF-16 without a byte-order mark", "m.csv", "id,path\na,a.wav\n".encode("utf-16-le"), "holds NUL bytes (16 of its first 32): it looks like UTF-16"),
    ("Excel's Unicode text (UTF-16, tabs)", "m.csv", "id\tpath\na\ta.wav\n".encode("utf-16"), "its header is separated by tabs"),
    ("JSONL line that is a list", "m.jsonl", '{"id": "a", "path": "a.wav"}\n["b", "a.wav"]\n', "line 2 is a JSON list, not an object"),
    ("JSONL that is not JSON", "m.jsonl", '{"id": "a", "path": "a.wav"\n', "line 1 is not valid JSON"),
    ("start=abc", "m.csv", "id,path,start\na,a.wav,abc\n", "start='abc' is not a number"),
    ("start=inf", "m.csv", "id,path,start\na,a.wav,inf\n", "start=inf"),
    ("duration=nan", "m.csv", "id,path,duration\na,a.wav,nan\n", "duration=nan"),
    ("negative start, zero duration", "m.csv", "id,path,start,duration\na,a.wav,-1,0\n", "start=-1 duration=0"),
    ("a directory as path", "m.csv", "id,path\na,sub\n", "sub (is a directory)"),
    ("blank ids", "m.csv", "id,path\n,a.wav\n,a.wav\n", "2 rows with an empty id (row 1, row 2)"),
    ("blank path", "m.csv", "id,path\na,a.wav\nb,\n", "1 rows without a path (row 2)"),
    ("unknown emotion", "m.csv", "id,path,emotion\na,a.wav,joyful\n", "'joyful'"),
    ("no id/path columns", "m.csv", "name,file\na,a.wav\n", "needs the columns 'id' and 'path'"),
    ("damaged parquet", "m.parquet", b"PAR1 not really", "not a readable parquet file"),
    ("meta that is not JSON", "m.csv", "id,path,meta\na,a.wav,{oops\n", "meta="),
]


@pytest.mark.parametrize("name,filename,content,expected", CASES, ids=[c[0] for c in CASES])
def test_malformed_manifest_is_refused_with_the_fix_before_the_model_loads(tmp_path, capsys, name, filename, content, expected):
    wav(tmp_path / "a.wav")
    (tmp_path / "sub").mkdir()
    manifest = _write(tmp_path / filename, content)
    rc = main(["run", str(manifest), "--model", str(tmp_path / "no_such_checkpoint"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"error: {manifest}: "), err
    assert expected in err, err
    assert "\n  fix: " in err and "Traceback" not in err
    assert "checkpoint" not in err  # the manifest was checked first
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_manifest_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path, encoding):
    """A UTF-16 manifest with FF FE (Excel's "Unicode text", resaved with commas) was refused as "not UTF-8 (byte 0xff)"
    with Latin-1 advice; a byte-order mark says what the text is, so it is read as that."""
    wav(tmp_path / "a.wav")
    text = "id,path,label,text\nc1,a.wav,colère,Kids are talking by the door\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":  # Python's utf-16-be writes no mark: put the big-endian one in front
        data = b"\xfe\xff" + data
    m = read_manifest(_write(tmp_path / "m.csv", data))
    assert [(it.id, it.label, it.text) for it in m] == [("c1", "colère", "Kids are talking by the door")]


def test_a_broken_utf16_manifest_names_utf16_not_latin1(tmp_path):
    data = "id,path\na,a.wav\n".encode("utf-16") + b"\x00\xd8"  # a lone high surrogate at the end
    with pytest.raises(ConfigError) as info:
        read_manifest(_write(tmp_path / "m.csv", data), validate_files=False)
    assert "starts with a UTF-16 byte-order mark but is not UTF-16 text" in info.value.message
    assert "iconv -f utf-16 -t utf-8" in info.value.fix and "latin1" not in info.value.fix
    with pytest.raises(ConfigError) as semi:
        read_manifest(_write(tmp_path / "s.csv", '"id";"path"\n"a";"a.wav"\n'), validate_files=False)  # quoted cells
    assert "separated by semicolons" in semi.value.message and "CSV UTF-8 (Comma delimited)" in semi.value.fix


def test_unknown_emotion_lists_the_valid_keys_and_the_fix(tmp_path):
    wav(tmp_path / "a.wav")
    _write(tmp_path / "m.csv", "id,path,emotion,label\na,a.wav,happy,joy\nb,a.wav,joyful,joyful\nc,a.wav, Sad ,sad\n")
    with pytest.raises(ConfigError) as info:
        read_manifest(tmp_path / "m.csv")
    err = info.value
    assert "row 2 (id b): 'joyful'" in err.message and "angry, disgusted, fearful, happy" in err.message
    assert "leave `emotion` empty and keep the original in `label`" in err.fix
    # an emotion column spelt with other case or spaces is the same key
    _write(tmp_path / "ok.csv", "id,path,emotion\na,a.wav,happy\nc,a.wav, Sad \n")
    assert [it.emotion for it in read_manifest(tmp_path / "ok.csv")] == ["happy", "sad"]


def test_segment_bounds_are_checked_and_empty_means_the_whole_file(tmp_path):
    wav(tmp_path / "a.wav")
    _write(tmp_path / "m.csv", "id,path,start,duration\na,a.wav,,\nb,a.wav,0.5,1.25\n")
    m = read_manifest(tmp_path / "m.csv")
    assert [(it.start, it.duration) for it in m] == [(None, None), (0.5, 1.25)]
    m2 = Manifest([Item("x", "a.wav", start=float("inf")), Item("y", "a.wav", duration=-2.0)], root=tmp_path)
    report = m2.validate()
    assert not report.ok and report.bad_segments == ["row 1 (id x): start=inf", "row 2 (id y): duration=-2"]


def test_missing_entries_are_listed_ten_and_a_count_and_keep_lets_them_through(tmp_path):
    items = []
    for i in range(20):
        if i < 7:
            wav(tmp_path / f"f{i:02d}.wav")
        items.append(Item(id=f"f{i:02d}", path=f"f{i:02d}.wav"))
    path = write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv")
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    msg = str(info.value)
    assert "13 missing files (f07.wav, f08.wav," in msg and "f16.wav … and 3 more" in msg and "f17.wav" not in msg
    assert "--skip-missing" in info.value.fix
    kept = read_manifest(path, missing="keep")
    assert len(kept) == 20 and len(kept.validate().missing_files) == 13
    # keep lets only missing files through: other problems are still refused
    _write(tmp_path / "dup.csv", "id,path\na,nope.wav\na,nope2.wav\n")
    with pytest.raises(ConfigError, match="1 duplicate ids"):
        read_manifest(tmp_path / "dup.csv", missing="keep")
    with pytest.raises(ConfigError, match="missing='sometimes'"):
        read_manifest(path, missing="sometimes")


def test_skip_missing_runs_the_good_entries_and_records_the_missing_ones_as_failed_rows(tmp_path, capsys):
    items = [Item(id=f"g{i}", path=f"g{i}.wav", emotion="happy") for i in range(4)]
    for i in range(4):
        wav(tmp_path / f"g{i}.wav", dur=0.6, seed=i)
    items += [Item(id="gone", path="gone.wav"), Item(id="dir", path="sub")]
    (tmp_path / "sub").mkdir()
    manifest = write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv")
    args = ["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 2  # refused by default, with both listed
    err = capsys.readouterr().err
    assert "2 missing files (gone.wav, sub (is a directory))" in err and "--skip-missing" in err
    assert main(args + ["--skip-missing"]) == 1  # some rows failed
    captured = capsys.readouterr()
    assert "2 of 6 manifest entries are missing" in captured.err
    assert "6 rows, 2 failed" in captured.out
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    status = dict(zip(df["id"], df["status"]))
    assert status == {"g0": "ok", "g1": "ok", "g2": "ok", "g3": "ok", "gone": "failed", "dir": "failed"}
    # the run records the manifest's file, not only its name (in config.yaml relative to the run folder: ../m.csv)
    assert RunFolder(tmp_path / "run").config["manifest"] == str(manifest.resolve())
    assert "manifest: ../m.csv" in (tmp_path / "run" / "config.yaml").read_text()


def test_a_misspelt_column_is_kept_as_metadata_and_named_on_screen_and_in_the_run_log(tmp_path, capsys):
    for i in range(2):
        wav(tmp_path / f"a{i}.wav", dur=0.6, seed=i)
    _write(tmp_path / "m.csv", "id,path,labl,foo\na0,a0.wav,happy,x\na1,a1.wav,sad,y\n")
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "m.csv"), "--model", "tiny", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    err = capsys.readouterr().err
    said = "column 'labl' is not one the workbench reads; did you mean 'label'? (kept as metadata"
    assert said in err and "m.csv" in err
    assert "'foo'" not in err  # an extra column that is no near miss is metadata, silently
    assert f"manifest: {said}" in (out / "log.txt").read_text()
    manifest = read_manifest(tmp_path / "m.csv")
    assert manifest.items[0].meta == {"labl": "happy", "foo": "x"} and manifest.items[0].label == ""


def _run_with_bad_files(tmp_path, monkeypatch, capsys) -> tuple[Path, pd.DataFrame]:
    """A manifest in ``data/`` with a missing file and a 10 ms clip, run with --skip-missing from another folder."""
    data = tmp_path / "data"
    wav(data / "ok.wav", dur=0.6)
    sf.write(data / "short.wav", np.zeros(160, np.float32), 16000)  # 10 ms: under one model frame
    manifest = write_manifest(Manifest([Item("ok", "ok.wav"), Item("gone", "gone.wav"), Item("short", "short.wav")], root=data),
                              data / "m.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the manifest's relative paths must not be explained from here
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "run"), "--skip-missing", "--no-cache"]) == 1
    capsys.readouterr()
    return data, pd.read_parquet(tmp_path / "run" / "results.parquet").set_index("id")


def test_a_missing_file_in_a_run_is_told_the_manifests_path_rule(tmp_path, monkeypatch, capsys):
    data, df = _run_with_bad_files(tmp_path, monkeypatch, capsys)
    gone = df.loc["gone"]
    assert gone["error_code"] == "audio" and "current directory" not in gone["error"]
    assert f"relative paths start at its folder, {data.resolve()}" in gone["error"]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "current directory" not in log and "relative paths start at its folder" in log
    # a path from the command line keeps the command line's rule
    with pytest.raises(AudioError) as typed:
        check_audio_path(Path("gone.wav"))
    assert "relative paths start from the current directory" in typed.value.fix


def test_a_too_short_clip_is_an_audio_error_named_by_its_path(tmp_path, monkeypatch, capsys):
    data, df = _run_with_bad_files(tmp_path, monkeypatch, capsys)
    short = df.loc["short"]
    # too short is a fault of the audio file like the others: code audio, the file's path first, not the item's id
    assert short["error_code"] == "audio" and short["error"].startswith(f"{(data / 'short.wav').resolve()}: the file is 10 ms long")


@pytest.mark.parametrize("command", ["run", "infer"])
def test_out_that_is_a_file_is_refused_before_the_model_loads(tmp_path, capsys, command):
    wav(tmp_path / "a.wav")
    manifest = write_manifest(Manifest([Item("a", "a.wav")], root=tmp_path), tmp_path / "m.csv")
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    source = str(manifest if command == "run" else tmp_path / "a.wav")
    rc = main([command, source, "--model", str(tmp_path / "no_such_checkpoint"), "--out", str(target)])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {target}: is a file, not a folder." in err and "fix: choose a folder for --out" in err
    assert "checkpoint" not in err and target.read_text() == "not a folder"
    rc = main([command, source, "--model", "tiny", "--out", str(target / "inside")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{target} is a file, not a folder" in err


def test_refusing_out_needs_no_model_and_no_torch(tmp_path):
    """The real command in a fresh process: refused in well under a model load, torch never imported."""
    wav(tmp_path / "a.wav")
    (tmp_path / "file").write_text("x")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "workbench.cli", "infer", str(tmp_path / "a.wav"),
                           "--model", "tiny", "--out", str(tmp_path / "file")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    # the infer command's own module ran (only it is imported since issue #28), yet neither torch nor FunASR was
    assert "workbench.cli.predict" in imported and not {"torch", "funasr"} & imported


def test_disk_full_names_the_file_and_the_fix(tmp_path, capsys, monkeypatch):
    """ENOSPC while the manifest is written (raised where the kernel reports it: at fsync) names the file and the fix."""
    import errno

    import workbench.files as files_mod

    wav(tmp_path / "wavs" / "a.wav")
    out = tmp_path / "m.csv"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files_mod.os, "fsync", full)
    rc = main(["manifest", str(tmp_path / "wavs"), "-o", str(out)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2 and f"error: disk full while writing {out}; free space or choose --out elsewhere" in err
    assert "Traceback" not in err and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["wavs"]


def test_a_link_planted_at_the_old_temporary_name_is_not_written_through(tmp_path, capsys):
    """Earlier versions wrote ``m.csv.tmp`` by name: a link planted there (to /dev/full, or a victim) is now ignored."""
    wav(tmp_path / "wavs" / "a.wav")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    (tmp_path / "m.csv.tmp").symlink_to(victim)
    rc = main(["manifest", str(tmp_path / "wavs"), "-o", str(tmp_path / "m.csv")])
    assert rc == 0, capsys.readouterr().err
    assert victim.read_text(encoding="utf-8") == "precious" and not (tmp_path / "m.csv").is_symlink()


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.parquet").write_bytes(b"not parquet at all")
    (run_dir / "summary.json").write_text(json.dumps({}))
    rc = main(["metrics", str(run_dir), "--no-figures"])
    err = capsys.readouterr().err
    if rc == 2:  # the run-folder reader learnt to refuse it with a message: that is fine too
        assert "fix:" in err
    else:
        assert rc == 3
        assert err.startswith("error: unexpected ") and "run with --debug for the traceback" in err
        assert len(err.strip().splitlines()) == 2 and "Traceback" not in err
        with pytest.raises(Exception):
            main(["--debug", "metrics", str(run_dir), "--no-figures"])


def test_every_command_prints_error_and_fix_on_stderr(tmp_path, capsys):
    """The same form for a WorkbenchError from any command: error: <source>: <text> / fix: <fix>."""
    missing = str(tmp_path / "nope")
    for argv in (["metrics", missing], ["compare", missing, "--baseline", "raw"], ["manifest", missing, "-o", str(tmp_path / "m.csv")],
                 ["datasets", "prepare", "emodb", missing, "--out", str(tmp_path / "m.csv")], ["run", missing + ".csv"],
                 ["infer", str(tmp_path / "a.wav"), "--model", missing], ["report", "no_such_template"]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert err.startswith("error: ") and "\n  fix: " in err and "Traceback" not in err, (argv, err)


def test_a_file_named_like_an_option_gets_the_double_dash_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wav(tmp_path / "-x.wav")
    with pytest.raises(SystemExit) as info:
        main(["infer", "-x.wav", "--model", "tiny"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "hint: to pass a file whose name starts with '-', put `--` before it: workbench infer -- -x.wav" in err
    with pytest.raises(SystemExit):
        main(["infer", "--model", "tiny", "-y.wav"])  # no such file: no hint
    assert "hint:" not in capsys.readouterr().err
    from workbench.cli import build_parser

    assert build_parser().parse_args(["infer", "--model", "tiny", "--", "-x.wav"]).paths == ["-x.wav"]


@pytest.mark.parametrize("command", ["diagnose", "segment", "similar"])
def test_single_file_commands_check_the_file_before_the_model(tmp_path, capsys, command):
    missing = str(tmp_path / "nope.wav")
    argv = [command, missing] + ([missing] if command == "similar" else []) + ["--model", str(tmp_path / "no_such_checkpoint")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing}: file not found.") and "checkpoint" not in err


def test_manifest_output_that_cannot_be_a_file_is_refused(tmp_path, capsys):
    wav(tmp_path / "wavs" / "a.wav")
    (tmp_path / "taken").write_text("x")
    (tmp_path / "adir.csv").mkdir()
    for out, expected in ((tmp_path / "taken" / "m.csv", "taken is a file, not a folder"), (tmp_path / "adir.csv", "is a directory"),
                          (tmp_path / "m.txt", "unknown manifest format '.txt'")):
        assert main(["manifest", str(tmp_path / "wavs"), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert expected in err and "fix:" in err and "Traceback" not in err


def test_a_manifest_written_into_another_folder_names_the_same_audio(tmp_path):
    """Relative paths start at the manifest's folder: written elsewhere (import-votes --out, prepare --out), they are
    rebased, so the new file names the same files (import-votes copied them unchanged, and every row went missing)."""
    data = tmp_path / "corpus"
    for name in ("a", "b"):
        wav(data / "sub" / f"{name}.wav", dur=0.3)
    manifest = Manifest([Item("a", "sub/a.wav"), Item("b", str((data / "sub" / "b.wav").resolve()))], root=data)
    elsewhere = write_manifest(manifest, tmp_path / "out" / "deeper" / "m.csv")
    again = read_manifest(elsewhere)
    assert [again.resolve(it).resolve() for it in again.items] == [(data / "sub" / n).resolve() for n in ("a.wav", "b.wav")]
    assert again.items[0].path == "../../corpus/sub/a.wav" and Path(again.items[1].path).is_absolute()
    assert manifest.items[0].path == "sub/a.wav"  # the manifest given is not changed
    same = read_manifest(write_manifest(manifest, data / "m.csv"))
    assert same.items[0].path == "sub/a.wav"  # in its own folder: as it was


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_path_that_is_a_pipe_or_a_device_is_named_as_such_not_as_missing(tmp_path, capsys):
    """A manifest row whose file is a FIFO, or a link to /dev/zero, was refused as a 'missing file' (it exists); the
    message now says what it is, as it does for a directory."""
    wav(tmp_path / "a.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "zero.wav").symlink_to("/dev/zero")
    manifest = _write(tmp_path / "m.csv", "id,path\na,a.wav\np,pipe.wav\nz,zero.wav\n")
    rc = main(["run", str(manifest), "--model", str(tmp_path / "no_such_checkpoint"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert "pipe.wav (not a regular file: a pipe, socket or device)" in err, err
    assert "zero.wav (not a regular file: a pipe, socket or device)" in err, err


def test_a_line_break_in_a_file_name_cannot_start_a_line_of_its_own(tmp_path, capsys):
    # POSIX allows a newline in a file name: printed as it is, the name below would print a fake "fix:" line
    bad = tmp_path / "clip.wav\n  fix: nothing is wrong, carry on\rerror"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError) as e:
        decode(bad)
    rendered = e.value.render()
    assert rendered.count("\n") == 1 and "\r" not in rendered, rendered  # the error line and the real fix line
    assert "clip.wav\\n  fix: nothing is wrong" in rendered and "\n  fix: nothing is wrong" not in rendered
    assert "\n" not in str(e.value) and e.value.source == str(bad)  # the stored text is one line; the source stays exact


def test_an_escape_sequence_or_a_right_to_left_override_in_a_file_name_is_shown_as_its_escape(tmp_path):
    # an ESC sequence recolours or clears a terminal; U+202E shows the rest of the line reversed (in the terminal,
    # the run's error column, the HTML report): the message must show them, not act on them
    bad = tmp_path / "clip\x1b[2J\u202eVAW.exe\x07.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError) as e:
        decode(bad)
    text, rendered = str(e.value), e.value.render()
    for shown in (text, rendered):
        assert not any(ch in shown for ch in "\x1b\u202e\x07"), repr(shown)
        assert "clip\\x1b[2J\\u202eVAW.exe\\x07.wav: could not decode" in shown, repr(shown)
    assert e.value.source == str(bad)  # the source itself stays exact


def test_a_colon_in_a_file_name_leaves_no_piece_of_the_name_in_the_decoders_words(tmp_path):
    # soundfile says "Error opening <_io.BufferedReader name='<path>'>: Format not recognised."; the path was cut
    # at its first ": ", so a name holding one read "(soundfile: carry on.wav'>: Format not recognised.)"
    bad = tmp_path / "clip\nerror: carry on.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)  # a RIFF tag: libsndfile's own message names the path
    with pytest.raises(AudioError) as e:
        decode(bad)
    assert "carry on.wav'" not in str(e.value.message) and "soundfile: Format not recognised." in str(e.value), str(e.value)


def test_a_path_too_long_for_the_system_is_a_missing_file_not_an_unexpected_error(tmp_path, capsys):
    """A row whose path is longer than the system's PATH_MAX (a pasted blob, a path joined onto itself): pathlib's
    is_dir() raised ENAMETOOLONG and `workbench run` stopped with "unexpected OSError" (exit 3) before any row ran."""
    wav(tmp_path / "a.wav")
    long_path = str(tmp_path / ("D" * 5000)) + ".wav"
    manifest = _write(tmp_path / "m.csv", f"id,path\na,a.wav\nlong,{long_path}\n")
    rc = main(["run", str(manifest), "--model", str(tmp_path / "no_such_checkpoint"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "unexpected" not in err and "Traceback" not in err, err
    assert "1 missing files" in err and "File name too long: a path of 5," in err and "D" * 100 not in err, err
    report = validate(read_manifest(manifest, validate_files=False))
    assert len(report.missing_files) == 1 and report.missing_files[0].startswith(long_path[:60]), report.missing_files


def test_a_manifest_with_a_carriage_return_in_a_name_reads_back_as_written(tmp_path):
    """`workbench manifest` names rows after their files; a name holding a carriage return was written unquoted (Python's
    csv writer quotes only its own line end, "\\n") and the manifest it wrote could not be read back ("duration='{}' is
    not a number of seconds": the row split in two at the "\\r")."""
    for name in ("take\r2.wav", "plain.wav"):
        wav(tmp_path / name)
    items = [Item(id="take\\r2", path="take\r2.wav", label="happy", start=0.5, duration=0.25),  # the id as `manifest` writes it
             Item(id="plain", path="plain.wav", label="sad", speaker="s, 1")]
    back = read_manifest(write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv"))
    assert [(it.id, it.path, it.label, it.start, it.duration, it.speaker) for it in back.items] == [
        ("take\\r2", "take\r2.wav", "happy", 0.5, 0.25, ""), ("plain", "plain.wav", "sad", None, None, "s, 1")]


@pytest.mark.parametrize("header, fix", [
    ("file,id,labl", "rename 'file' to 'path', 'labl' to 'label'"),
    ("utt,wav_path", "rename 'wav_path' to 'path', 'utt' to 'id'"),
    ("ID,Path", "rename 'ID' to 'id', 'Path' to 'path'"),
    ("x,y", "add them"),
])
def test_a_manifest_without_id_or_path_names_the_columns_to_rename(tmp_path, header, fix):
    """A new user's manifest from another tool (Kaldi's utt, a `file` column) was told to 'add them', with no word on
    the column that was meant: the fix names it."""
    p = _write(tmp_path / "m.csv", header + "\n" + ",".join(["a"] * len(header.split(","))) + "\n")
    with pytest.raises(ConfigError) as e:
        read_manifest(p)
    assert "manifest needs the columns 'id' and 'path'" in e.value.message and e.value.fix.startswith(fix), e.value.fix


def test_an_existing_manifest_is_not_replaced_by_a_rescan_unless_asked(tmp_path, capsys):
    # `workbench manifest DIR -o m.csv` over a hand-edited m.csv replaced it without a word
    wav(tmp_path / "wavs" / "a.wav")
    out = tmp_path / "m.csv"
    out.write_text("id,path,label,speaker\na,wavs/a.wav,angry,spk1\n", encoding="utf-8")
    before = out.read_bytes()
    assert main(["manifest", str(tmp_path / "wavs"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: exists already" in err and "pass --overwrite to replace it" in err and "Traceback" not in err
    assert out.read_bytes() == before
    assert main(["datasets", "prepare", "emodb", str(tmp_path / "wavs"), "--out", str(out)]) == 2  # before the corpus is read
    assert "exists already" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["manifest", str(tmp_path / "wavs"), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != before and "spk1" not in out.read_text(encoding="utf-8")


def test_a_url_given_as_a_manifest_is_named_as_one_not_as_a_missing_file(tmp_path, capsys):
    # "https:/example.com/m.csv: manifest file not found": Path folded the URL, and nothing said URLs are not read
    exp = tmp_path / "exp.yaml"
    exp.write_text("manifest: https://example.com/m.csv\nmodel: tiny\n", encoding="utf-8")
    for argv in (["run", str(exp), "--out", str(tmp_path / "r")],
                 ["run", "https://example.com/m.csv", "--model", "tiny", "--out", str(tmp_path / "r")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "https://example.com/m.csv is a URL" in err or "https://example.com/m.csv: is a URL" in err, err
        assert "read from a local file only (nothing is downloaded)" in err and "not found" not in err
    assert not (tmp_path / "r").exists()


def test_manifest_fills_speakers_from_a_pattern_and_counts_the_files_it_misses(tmp_path, capsys):
    # finetune and probe need speakers, and `workbench manifest` had no way to fill them
    import pandas as pd

    for rel in ("f1/f1_angry_1.wav", "f1/f1_sad_2.wav", "m2/m2_angry_1.wav", "x/odd.wav"):
        wav(tmp_path / "w" / rel)
    out = tmp_path / "m.csv"
    assert main(["manifest", str(tmp_path / "w"), "-o", str(out), "--speaker-pattern", r"^([fm]\d)/"]) == 0
    rows = pd.read_csv(out, keep_default_na=False).set_index("id")["speaker"].to_dict()
    assert rows == {"f1_angry_1": "f1", "f1_sad_2": "f1", "m2_angry_1": "m2", "odd": ""}
    assert "1 of 4 file(s) have no speaker" in capsys.readouterr().err
    for bad, says in ((r"^([fm]\d/", "is not a regular expression"), (r"^[fm]\d/", "has 0 groups; it needs exactly one")):
        assert main(["manifest", str(tmp_path / "w"), "-o", str(tmp_path / "n.csv"), "--speaker-pattern", bad]) == 2
        assert says in capsys.readouterr().err and not (tmp_path / "n.csv").exists()


class _NoSplit(str):
    """JSON-lines text that refuses to be split into a list of every line."""

    def split(self, *args, **kwargs):
        raise AssertionError("the whole text was split into a list of lines")


def test_jsonl_lines_are_read_one_at_a_time_with_the_same_line_numbers(tmp_path):
    # text.split("\n") held a list of every line beside the text and the records: a 1.5M-row JSONL manifest peaked at
    # 1,489,088 kB, 1,248,136 kB read a line at a time (measured with /usr/bin/time -f %M; no timed or memory assert here)
    from workbench.data.manifest import jsonl_objects

    p = tmp_path / "m.jsonl"
    text = '{"id": "a", "path": "a.wav"}\r\n\n  \n{"id": "b\\u2028x", "path": "b.wav"}\n{"id": "c", "path": "c.wav"}'
    got = list(jsonl_objects(p, _NoSplit(text)))
    assert [(n, r["id"]) for n, r in got] == [(1, "a"), (4, "b\u2028x"), (5, "c")]
    assert list(jsonl_objects(p, _NoSplit(""))) == [] and list(jsonl_objects(p, _NoSplit("\n\n"))) == []
    for bad, said in (('{"id": "a"}\n\n{"id": \n', "line 3 is not valid JSON"), ('{"id": "a"}\n[1]', "line 2 is a JSON list")):
        with pytest.raises(ConfigError, match=said) as exc:
            list(jsonl_objects(p, _NoSplit(bad)))
        assert str(p) in str(exc.value)
