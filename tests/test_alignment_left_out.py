"""One malformed span of an alignment is left out and named, never the reason the whole file is refused.

`workbench segment --transcript` and `workbench explain --words` refused a whole SRT for one cue whose end came
before its start (and for a cue whose times could not be read); subtitle tools drop that cue and use the others.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from workbench.cli import main
from workbench.errors import ConfigError
from workbench.explain.words import Word, read_alignment, validate_words

SR = 16000
# line 6: end before start; line 10: a negative time; line 14: a caption whose text holds "-->" (a good cue);
# line 18: a time that cannot be read; line 22: past the end of a 4 s clip
SRT = ("1\n00:00:00,000 --> 00:00:01,200\nfirst line\n\n"
       "2\n00:00:02,000 --> 00:00:01,000\nbad order\n\n"
       "3\n-00:00:01,000 --> 00:00:01,500\nnegative\n\n"
       "4\n00:00:02,000 --> 00:00:03,500\nthird --> line\n\n"
       "5\n00:00:0x,000 --> 00:00:03,500\nunreadable\n\n"
       "6\n00:00:03,600 --> 00:00:09,000\nlate\n")


def facts(alignment):
    return [(r["line"], r["fact"]) for r in alignment.left_out]


def test_bad_spans_are_left_out_with_their_line_and_fact(tmp_path):
    (tmp_path / "t.srt").write_text(SRT, encoding="utf-8")
    got = read_alignment(tmp_path / "t.srt", duration=4.0)
    assert [(w.label, w.line) for w in got] == [("first line", 2), ("third --> line", 14)]
    assert facts(got) == [(6, "end_before_start"), (10, "negative_time"), (18, "unparsable_time"), (22, "beyond_clip")]
    assert got.left_out[0]["start"] == 2.0 and got.left_out[0]["end"] == 1.0 and got.left_out[0]["text"] == "bad order"
    # without the clip's duration, the late span is used
    assert [w.label for w in read_alignment(tmp_path / "t.srt")] == ["first line", "third --> line", "late"]
    # CTM: the line of each left-out word, and the malformed line
    (tmp_path / "t.ctm").write_text("u 1 0.1 0.3 a\nu 1 0.5 -0.2 b\nu 1 abc 0.1 c\nu 1 0.5\nu 1 0.9 0.2 d\n", encoding="utf-8")
    got = read_alignment(tmp_path / "t.ctm")
    assert [(w.label, w.line) for w in got] == [("a", 1), ("d", 5)]
    assert facts(got) == [(2, "end_before_start"), (3, "unparsable_time"), (4, "malformed_line")]


@pytest.mark.parametrize("name, text, says", [
    ("order.srt", "1\n00:00:02,000 --> 00:00:01,000\nx\n", "line 2: end before start (2.000–1.000 s)"),
    ("neg.srt", "1\n-00:00:05,000 --> 00:00:01,000\nneg\n", "line 2: negative time"),
    ("nan.vtt", "WEBVTT\n\n00:00:nan --> 00:00:04.000\nbad\n", "line 3: unparsable time"),
    ("b.ctm", "u 1 0.5 -0.1 a\nu 1 x 0.1 b\n", "none of its 2 spans can be used"),
])
def test_a_file_with_no_usable_span_is_refused_naming_each(tmp_path, name, text, says):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_alignment(tmp_path / name)
    assert "none of its" in str(err.value) and says in str(err.value)
    with pytest.raises(ConfigError, match="line 1: beyond the clip"):
        validate_words([Word(3.0, 5.0, "late", 1)], duration=2.0)


def test_segment_transcript_scores_the_good_spans_and_names_the_bad_ones(tmp_path, capsys, tiny_model):
    t = np.arange(4 * SR) / SR
    sf.write(tmp_path / "talk.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SR)
    (tmp_path / "t.srt").write_text(SRT, encoding="utf-8")
    out = tmp_path / "o"
    rc = main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "t.srt"), "--model", "tiny", "--out", str(out)])
    screen = capsys.readouterr().out
    assert rc == 1, screen  # spans were not scored: said in the exit status too
    assert "!! 3 spans of the alignment left out: line 6: end before start (2.000–1.000 s); line 10: negative time" in screen
    assert "line 18: unparsable time" in screen and "3 left out (named above)" in screen
    summary = json.loads((out / "transcript_summary.json").read_text())
    assert summary["n_left_out"] == 3 and [(r["line"], r["fact"]) for r in summary["left_out"]["spans"]] == [
        (6, "end_before_start"), (10, "negative_time"), (18, "unparsable_time")]
    # the late span is read (no duration known before the audio) and fails as past the end, as before
    assert summary["n_scored"] == 2 and summary["n_failed"] == 1
    assert "line 6: end before start" in (out / "log.txt").read_text()


@pytest.mark.slow
def test_explain_words_uses_the_good_spans_and_names_the_bad_ones(tmp_path, capsys, tiny_model):
    t = np.arange(4 * SR) / SR
    sf.write(tmp_path / "talk.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SR)
    (tmp_path / "t.srt").write_text(SRT, encoding="utf-8")
    out = tmp_path / "e"
    assert main(["explain", str(tmp_path / "talk.wav"), "--model", "tiny", "--method", "occlusion", "--steps", "4",
                 "--randomisation", "none", "--words", str(tmp_path / "t.srt"), "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    assert "!! words: 4 spans of the alignment left out: line 6: end before start" in screen and "line 22: beyond the clip" in screen
    d = json.loads((out / "explanation.json").read_text())
    assert [w["label"] for w in d["words"]["items"]] == ["first line", "third --> line"]
    assert d["words"]["left_out"]["count"] == 4 and d["words"]["left_out"]["spans"][3]["fact"] == "beyond_clip"


@pytest.mark.parametrize("name, bad", [("t.ctm", "u 1 abc 1.0 w{i}"),  # a time that cannot be read: left out in the reader
                                       ("t.srt", "{n}\n00:00:0x,000 --> 00:00:01,000\nw{i}\n")])
def test_left_out_spans_count_against_the_word_cap(tmp_path, name, bad):
    """Spans left out are spans of the file: 90,000 unreadable CTM lines beside one good one made a 22 MB
    transcript_summary.json (every left-out span is recorded) from a 2 MB transcript, past the 5,000-word cap that
    bounds what explain and segment hold and write."""
    from workbench.explain.words import MAX_WORDS

    n = MAX_WORDS + 10
    if name.endswith(".ctm"):
        text = "u 1 0.10 0.50 hello\n" + "\n".join(bad.format(i=i) for i in range(n)) + "\n"
    else:
        text = "1\n00:00:00,100 --> 00:00:00,500\nhello\n\n" + "\n".join(bad.format(n=i + 2, i=i) for i in range(n))
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{n + 1:,} (words|spans)"):
        read_alignment(tmp_path / name)


def test_a_left_out_spans_text_reaches_json_escaped_where_a_terminal_would_act_on_it(tmp_path, capsys, tiny_model):
    """`segment --transcript --json` printed a left-out span's text into the JSON as it was: JSON escapes only
    U+0000-U+001F, so a C1 control (U+009B is a terminal's one-byte CSI), a right-to-left override and a line separator
    reached the screen raw. strict_json now writes them as \\u escapes (the same JSON once parsed)."""
    t = np.arange(2 * SR) / SR
    sf.write(tmp_path / "talk.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SR)
    evil = "x\x9b2J\u202eevil\u2028y\x85z"
    (tmp_path / "t.srt").write_text(f"1\n00:00:00,100 --> 00:00:00,900\nok\n\n2\n00:00:01,500 --> 00:00:01,000\n{evil}\n",
                                    encoding="utf-8")
    rc = main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "t.srt"), "--model", "tiny",
               "--out", str(tmp_path / "o"), "--json"])
    out = capsys.readouterr().out
    assert rc == 1 and not any(c in out for c in "\x9b\u202e\u2028\x85"), repr(out[-400:])
    assert json.loads(out)["left_out"]["spans"][0]["text"] == " ".join(evil.split())  # as read (whitespace runs are one space)
    assert not any(c in (tmp_path / "o" / "transcript_summary.json").read_text(encoding="utf-8") for c in "\x9b\u202e")
