"""Every CSV the workbench writes is read back by the one decoder, exactly: write -> read -> display.

Cells are written escaped (control and bidirectional characters as escapes, a formula start behind an apostrophe), but
``RunFolder.artifact`` and the long-audio timeline widget read them with a bare ``pd.read_csv``: a label ``=1+2`` came
back as ``'=1+2``, ``a\\u202eb`` as the ten characters ``a\\u202eb``, a label ``NA`` as a missing value, and
``segments.csv``'s rows, joined with bare commas, split a label holding a comma into two cells.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import soundfile as sf

from conftest import speech_like
from test_probe import synthetic_row, write_run
from workbench.errors import printable
from workbench.runs.folder import RunFolder
from workbench.runs.longform import segment_file, SegmentConfig
from workbench.serialize import read_spreadsheet_csv, spreadsheet_line, spreadsheet_safe
from workbench.views.timeline import LongAudioTimeline
from workbench.views.viewbase import _esc

HOSTILE = ["spk\x1b[31mred", "a\u202egnp.exe", "line\nbreak", "\tstarts=1", "=HYPERLINK(1)", "C:\\data\\clip.wav",
           "lit\\x1b", "\\\\", "'=x", "'", "with, comma", 'a "quote"', "NA", "null", "-1.5", "<b>bold</b>", "ok"]


def test_a_run_folders_csv_reads_back_the_values_written(tmp_path):
    rows = [synthetic_row(f"clip_{i:02d}", emotion="sad") for i in range(4)]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((4, 8)))
    frame = pd.DataFrame({"speaker": HOSTILE, "x": np.arange(len(HOSTILE), dtype=float), "=col\x1b": ["v"] * len(HOSTILE)})
    rf.write_artifact("hostile.csv", lambda f: spreadsheet_safe(frame).to_csv(f, index=False), text=True)
    back = RunFolder(rf.path).artifact("hostile.csv")
    assert back["speaker"].tolist() == HOSTILE
    assert back["x"].tolist() == frame["x"].tolist() and list(back.columns) == ["speaker", "x", "=col\x1b"]


def test_a_row_written_a_line_at_a_time_keeps_commas_and_quotes_in_their_cell():
    text = spreadsheet_line(["label", "confidence"]) + "".join(spreadsheet_line([v, 0.5]) for v in HOSTILE)
    back = read_spreadsheet_csv(text)
    assert back["label"].tolist() == HOSTILE and back["confidence"].tolist() == [0.5] * len(HOSTILE)
    empty = read_spreadsheet_csv(spreadsheet_line(["a", "b"]) + spreadsheet_line(["", 1]))
    assert pd.isna(empty["a"][0]) and empty["b"][0] == 1  # only an empty cell is missing


def test_the_timeline_widget_shows_the_labels_written_escaped_for_the_screen(tmp_path, tiny_model):
    y = np.zeros(16000 * 8, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=1)
    y[16000 * 5:16000 * 7] = speech_like(16000, 2.0, seed=2)
    sf.write(tmp_path / "long.wav", y, 16000, subtype="PCM_16")
    segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"))
    seg = tmp_path / "seg"
    timeline = read_spreadsheet_csv((seg / "timeline.csv").read_bytes())
    labels = [HOSTILE[i % len(HOSTILE)] for i in range(len(timeline))]
    timeline["label"] = labels  # a head's labels are data: written as the package writes them
    (seg / "timeline.csv").write_text(spreadsheet_safe(timeline).to_csv(index=False), encoding="utf-8")
    segments = read_spreadsheet_csv((seg / "segments.csv").read_bytes())
    assert list(segments.columns) == [c for c in segments.columns if isinstance(c, str)] and len(segments) >= 1
    w = LongAudioTimeline(seg)
    assert w.timeline["label"].tolist() == labels
    for (text, _), label in zip(w.spans.options, labels):
        assert printable(label) in text and "\x1b" not in text and "\u202e" not in text
    assert list(w.span_trace.text) == [_esc(lab) for lab in labels]
    w.play(0)
    assert f"<b>{_esc(labels[0])}</b>" in w.now.value
    shutil.rmtree(seg)


def test_a_hand_edited_timeline_or_run_csv_is_refused_in_one_line_naming_the_file(tmp_path, tiny_model):
    """Text in a time column, a missing column, a ragged row, bytes that are not UTF-8, an empty file: pandas' TypeError,
    KeyError, ParserError, UnicodeDecodeError or EmptyDataError came out of the widget and of ``RunFolder.artifact``."""
    import pytest

    from workbench.runs.artifacts import RunFolderError

    y = np.zeros(16000 * 6, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=1)
    sf.write(tmp_path / "long.wav", y, 16000, subtype="PCM_16")
    segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"))
    original = (tmp_path / "seg" / "timeline.csv").read_bytes()
    head, first, *rest = original.decode().splitlines()
    cases = {
        b"abc" + (first[first.index(","):] + "\n").encode(): "column start holds 'abc' on row 2, not a number",
        ("\n".join([",".join(head.split(",")[1:]), ",".join(first.split(",")[1:])]) + "\n").encode(): "has no column start",
        original + b"1,2,3,4,5,6,7,8,9,10,11,12\n": "does not read as the CSV table it should be",
        original[:20] + b"\xff\xfe" + original[20:]: "does not read as the CSV table it should be",
        b"": "does not read as the CSV table it should be",
    }
    for i, (body, said) in enumerate(cases.items()):
        seg = tmp_path / f"seg{i}"
        shutil.copytree(tmp_path / "seg", seg)
        (seg / "timeline.csv").write_bytes(body if i else (head + "\n").encode() + body)
        with pytest.raises(RunFolderError) as info:
            LongAudioTimeline(seg)
        text = info.value.render()
        assert said in text and "timeline.csv" in text and "fix" in text.lower(), text
    rows = [synthetic_row(f"clip_{i:02d}", emotion="sad") for i in range(4)]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((4, 8)))
    rf.write_artifact("table.csv", lambda f: f.write("a,b\n1,2\n1,2,3\n"), text=True)
    with pytest.raises(RunFolderError, match="does not read as the CSV table"):
        RunFolder(rf.path).artifact("table.csv")
