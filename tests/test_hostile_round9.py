"""Hostile and careless inputs, round nine: experiment files and report parameters written by someone else (binary
bytes, integers of thousands of digits, seeds numpy never takes, alias bombs and names given twice on the command line),
and names longer than a file system allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main

DEMO_MANIFEST = Path(__file__).resolve().parent.parent / "workbench" / "demo_data" / "manifest.csv"
#: nine lines of aliases, each nine times the one before: 9**9 strings once expanded
BOMB = "[&a [x,x,x,x,x,x,x,x,x]," + ",".join(
    f"&{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"


def _experiment(tmp_path, body: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(f"manifest: {DEMO_MANIFEST}\nmodel: tiny\n{body}", encoding="utf-8")
    return path


def _refused(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err and "fix:" in err and "unexpected" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("body, said", [
    ("seed: 0x" + "f" * 5000 + "\n", "line 3: the whole number '0xfffff"),  # 'unexpected ValueError' (str() of it)
    ("chunk_size: 0x" + "f" * 5000 + "\n", "line 3: the whole number"),  # 'unexpected ValueError' in the range message
    ("audio:\n  max_duration_s: 0x" + "f" * 5000 + "\n", "line 4: the whole number"),  # 'unexpected OverflowError' (float())
    ("seed: 99999999999999999999999\n", "line 3: the whole number '99999999999999999999999' is past"),
    ("seed: -1\n", "`seed` is -1; it must be a whole number from 0 to 4294967295"),  # kept, and read back as 0 by the reports
    ("seed: 4294967296\n", "`seed` is 4294967296"),
])
def test_an_experiment_with_a_number_no_setting_takes_is_refused_naming_it(tmp_path, capsys, body, said):
    err = _refused(capsys, ["run", str(_experiment(tmp_path, body)), "--out", str(tmp_path / "run")])
    assert said in err and str(tmp_path / "experiment.yaml") in err
    assert not (tmp_path / "run").exists()


def test_an_experiment_file_of_binary_bytes_is_refused_not_an_unexpected_error(tmp_path, capsys):
    """A NUL in the file: PyYAML's reader raised while it was built, outside the parser's try ('unexpected ReaderError')."""
    path = tmp_path / "experiment.yaml"
    path.write_bytes(b"manifest: m.csv\n\x00\x01\x02")
    err = _refused(capsys, ["run", str(path), "--out", str(tmp_path / "run")])
    assert str(path) in err and "is not valid YAML" in err and "#x0000" in err
