"""CSV cells hold no control or bidirectional character raw, and read back exactly; `embeddings --neighbours` with an
unknown id is refused (closest ids named) before anything is written."""

from __future__ import annotations

import io
import random
import warnings

import numpy as np
import pandas as pd

from test_probe import synthetic_row, write_run
from workbench.cli import main
from workbench.serialize import spreadsheet_cell, spreadsheet_safe, spreadsheet_value

HOSTILE = ["spk\x1b[31mred", "a\u202egnp.exe", "line\nbreak", "\tstarts=1", "=HYPERLINK(1)", "C:\\data\\clip.wav",
           "lit\\x1b", "\\\\", "\\\n", "'=x", "'", "ok", "zwj\u200djoined", "nb\xa0sp", "-1.5", ""]
RAW = ("\x1b", "\u202e", "\n", "\r", "\t")


def test_each_cell_is_free_of_control_characters_and_reads_back_exactly():
    for v in HOSTILE:
        cell = spreadsheet_cell(v)
        assert not any(ch in cell for ch in RAW), (v, cell)
        assert not cell.lstrip("'").startswith(("=", "+", "-", "@")) or cell.startswith("'"), cell
        assert spreadsheet_value(cell) == v, (v, cell)
    assert spreadsheet_cell("spk\x1b[31mred") == "spk\\x1b[31mred" and spreadsheet_cell("a\u202eb") == "a\\u202eb"
    assert spreadsheet_cell("C:\\data\\clip.wav") == "C:\\data\\clip.wav"  # a path stays as it is
    assert spreadsheet_cell("zwj\u200djoined") == "zwj\u200djoined"  # text, not a control
    rng = random.Random(0)
    alphabet = ["a", "\\", "x", "1", "b", "u", "2", "0", "e", "\x1b", "\u202e", "\n", "\r", "\t", "=", "-", "'", "\x85"]
    for _ in range(20000):
        v = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert spreadsheet_value(spreadsheet_cell(v)) == v, v
    frame = pd.DataFrame({"speaker": HOSTILE, "x": np.arange(len(HOSTILE), dtype=float)})
    text = spreadsheet_safe(frame).to_csv(index=False)
    assert not any(ch in text.replace("\n", "") for ch in RAW if ch != "\n") and text.count("\n") == len(HOSTILE) + 1
    back = pd.read_csv(io.StringIO(text), keep_default_na=False).map(spreadsheet_value)
    assert back["speaker"].tolist() == HOSTILE and back["x"].tolist() == frame["x"].tolist()


def _run(tmp_path):
    speakers = ["spk\x1b[2J", "spk\u202eevil", "plain", "spk\x1b[2J", "spk\u202eevil", "plain"]
    rows = [synthetic_row(f"clip_{i:02d}", emotion="angry" if i % 2 else "sad", speaker=s) for i, s in enumerate(speakers)]
    return write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((6, 8))), speakers


def test_the_projection_csv_writes_control_characters_as_escapes(tmp_path, capsys):
    rf, speakers = _run(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e"), "--cluster", "none"]) == 0
    raw = (tmp_path / "e" / "projection_pca.csv").read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\u202e" not in raw and "spk\\x1b[2J" in raw and "spk\\u202eevil" in raw
    back = pd.read_csv(tmp_path / "e" / "projection_pca.csv", keep_default_na=False).map(spreadsheet_value)
    assert back["speaker"].tolist() == speakers


def test_an_unknown_neighbours_id_is_refused_with_the_closest_ids_before_anything_is_written(tmp_path, capsys):
    rf, _ = _run(tmp_path)
    out = tmp_path / "e"
    before = sorted(p.name for p in rf.path.rglob("*"))
    assert main(["embeddings", str(rf.path), "--out", str(out), "--neighbours", "clip_3"]) == 2
    err = capsys.readouterr().err
    assert "item 'clip_3' has no embedding in variant 'raw' of this run (6 embedded items); did you mean 'clip_03'" in err, err
    assert "fix: " in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in rf.path.rglob("*")) == before
    assert main(["embeddings", str(rf.path), "--neighbours", "zzzz"]) == 2  # nothing close: the count and the fix
    err = capsys.readouterr().err
    assert "(6 embedded items)." in err and "did you mean" not in err
    assert sorted(p.name for p in rf.path.rglob("*")) == before
