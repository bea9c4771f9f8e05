"""Word timings from every format, and the model's frames inside each word."""


import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.explain.words import (Word, alignment_beside, item_alignment, left_out_words, per_word_attribution,
                                     per_word_scores, read_alignment, word_frames, words_record)
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import Item
from workbench.model.network import FRAME_RATE, Prediction

WORDS = [Word(0.10, 0.42, "the"), Word(0.42, 0.96, "quick"), Word(1.20, 1.60, "fox")]


def textgrid(path, tiers=(("words", WORDS),), xmax=2.0):
    from praatio import textgrid as tgio

    tg = tgio.Textgrid()
    for name, words in tiers:
        tg.addTier(tgio.IntervalTier(name, [(w.start, w.end, w.label) for w in words], 0, xmax))
    tg.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path


def prediction(n_frames=100, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n_frames, len(LABEL_KEYS))) * 2
    scores = np.exp(logits.mean(0)) / np.exp(logits.mean(0)).sum()
    return Prediction("x", scores, logits.mean(0), frame_logits=logits, n_frames=n_frames, duration=n_frames / FRAME_RATE)


def test_textgrid_words_tier_is_found_and_read(tmp_path):
    p = textgrid(tmp_path / "a.TextGrid", tiers=(("phones", [Word(0.1, 0.2, "dh")]), ("Words", WORDS)))
    assert read_alignment(p) == WORDS
    assert read_alignment(p, tier="phones") == [Word(0.1, 0.2, "dh")]


def test_textgrid_without_a_word_tier_lists_the_tiers(tmp_path):
    p = textgrid(tmp_path / "a.TextGrid", tiers=(("ortho", WORDS), ("phones", WORDS)))
    with pytest.raises(ConfigError, match=r"\['ortho', 'phones'\]"):
        read_alignment(p)
    with pytest.raises(ConfigError, match="no tier named 'wrds'"):
        read_alignment(p, tier="wrds")


def test_ctm_srt_vtt_give_the_same_times(tmp_path):
    (tmp_path / "a.ctm").write_text(";; comment\n" + "".join(f"utt1 1 {w.start:.2f} {w.end - w.start:.2f} {w.label} 0.9\n" for w in WORDS))
    (tmp_path / "a.srt").write_text("1\n00:00:00,100 --> 00:00:00,420\nthe\n\n2\n00:00:00,420 --> 00:00:00,960\nquick\n\n"
                                    "3\n00:00:01,200 --> 00:00:01,600\nfox\n")
    (tmp_path / "a.vtt").write_text("WEBVTT\n\n00:00.100 --> 00:00.420\nthe\n\nc2\n00:00:00.420 --> 00:00:00.960 align:start\nquick\n\n"
                                    "00:01.200 --> 00:01.600\nfox\n")
    for name in ("a.ctm", "a.srt", "a.vtt"):
        got = read_alignment(tmp_path / name)
        assert [w.label for w in got] == ["the", "quick", "fox"], name
        assert np.allclose([(w.start, w.end) for w in got], [(w.start, w.end) for w in WORDS], atol=1e-6), name


def test_ctm_with_several_utterances_needs_one_named(tmp_path):
    p = tmp_path / "a.ctm"
    p.write_text("u1 1 0.1 0.2 a\nu2 1 0.3 0.2 b\n")
    with pytest.raises(ConfigError, match="2 utterances"):
        read_alignment(p)
    [w] = read_alignment(p, utterance="u2")
    assert (w.label, w.start, w.end) == ("b", 0.3, pytest.approx(0.5))


def test_lhotse_word_alignment(tmp_path):
    pytest.importorskip("lhotse")
    from lhotse.supervision import AlignmentItem, SupervisionSegment, SupervisionSet

    sup = SupervisionSegment("s1", "rec1", 0.0, 2.0, alignment={"word": [AlignmentItem(w.label, w.start, w.end - w.start) for w in WORDS]})
    p = tmp_path / "sups.jsonl.gz"
    SupervisionSet.from_segments([sup]).to_file(p)
    got = read_alignment(p)
    assert [w.label for w in got] == ["the", "quick", "fox"]
    assert np.allclose([w.end for w in got], [w.end for w in WORDS])
    with pytest.raises(ConfigError, match="phone"):
        read_alignment(p, tier="phone")


@pytest.mark.parametrize("content, match", [
    ("u 1 0.5 -0.1 a\n", "line 1: end before start"),
    ("u 1 abc 0.1 a\n", "not a number"),
    ("u 1 0.5\n", "3 fields"),
])
def test_bad_times_are_refused(tmp_path, content, match):  # the only span of the file: nothing is left to use
    p = tmp_path / "bad.ctm"
    p.write_text(content)
    with pytest.raises(ConfigError, match=match):
        read_alignment(p)


def test_words_past_the_clip_are_left_out_and_unknown_formats_are_refused(tmp_path):
    p = textgrid(tmp_path / "a.TextGrid")
    got = read_alignment(p, duration=1.0)  # "fox" (1.2-1.6 s) is past the clip: left out, named (a TextGrid has no line per word)
    assert [w.label for w in got] == ["the", "quick"] and [(r["text"], r["fact"]) for r in got.left_out] == [("fox", "beyond_clip")]
    with pytest.raises(ConfigError, match="none of its 3 spans can be used"):
        read_alignment(p, duration=0.05)
    assert read_alignment(p, duration=1.59)  # 10 ms past the end is the aligner's rounding
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match="not known"):
        read_alignment(tmp_path / "a.txt")
    with pytest.raises(ConfigError, match="does not exist"):
        read_alignment(tmp_path / "missing.TextGrid")
    (tmp_path / "broken.TextGrid").write_text("File type = \"ooTextFile\"\nnonsense")
    with pytest.raises(ConfigError, match="cannot read"):
        read_alignment(tmp_path / "broken.TextGrid")


def _long_textgrid(intervals, name="words", xmax=2.0):
    """A long-format TextGrid written out by hand (praatio will not write an interval whose end is before its start)."""
    body = "".join(f"        intervals [{k}]:\n            xmin = {a}\n            xmax = {b}\n            text = \"{t}\"\n"
                   for k, (a, b, t) in enumerate(intervals, start=1))
    return ('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = %s\ntiers? <exists>\nsize = 1\n'
            'item []:\n    item [1]:\n        class = "IntervalTier"\n        name = "%s"\n        xmin = 0\n        xmax = %s\n'
            '        intervals: size = %d\n' % (xmax, name, xmax, len(intervals))) + body


def test_a_textgrid_interval_ending_before_it_starts_is_left_out_and_named_not_the_whole_file(tmp_path):
    """praatio's openTextgrid refused the whole file (TextgridStateError) for one bad interval, so `segment
    --transcript` and `explain --words` refused a TextGrid that SRT/CTM would have read with that span left out."""
    p = tmp_path / "a.TextGrid"
    p.write_text(_long_textgrid([(0, 0.1, ""), (0.1, 0.5, "hello"), (0.9, 0.6, "world"), (1.0, 1.0, "flat"), (1.0, 1.5, "again")]))
    got = read_alignment(p, duration=2.0)
    assert [(w.label, w.start, w.end) for w in got] == [("hello", 0.1, 0.5), ("again", 1.0, 1.5)]
    assert [(r["text"], r["fact"], r["start"], r["end"], r["detail"]) for r in got.left_out] == [
        ("world", "end_before_start", 0.9, 0.6, "interval 3 of tier 'words'"),
        ("flat", "zero_length", 1.0, 1.0, "interval 4 of tier 'words'")]
    assert "the span 'world': end before start (0.900–0.600 s), interval 3 of tier 'words'" in left_out_words(got.left_out)


def test_a_utf16_textgrid_is_read_and_a_doubled_tier_name_is_refused(tmp_path):
    p = tmp_path / "a.TextGrid"
    p.write_bytes(_long_textgrid([(0.1, 0.5, "grüß")]).encode("utf-16"))  # Praat's "UTF-16" text files start with a BOM
    assert [w.label for w in read_alignment(p)] == ["grüß"]
    two = _long_textgrid([(0.1, 0.5, "a")]).replace("size = 1\n", "size = 2\n", 1)
    two += two[two.index("    item [1]:"):].replace("item [1]", "item [2]")
    p.write_text(two)
    with pytest.raises(ConfigError, match=r"2 tiers are named 'words'"):
        read_alignment(p)


def test_a_utf16_textgrid_without_a_byte_order_mark_is_read_and_other_encodings_are_refused_by_name(tmp_path):
    """Praat writes a BOM, other tools do not: praatio's reader tried UTF-16 first and read them, the workbench's own
    decoding (UTF-16 only after a BOM, else UTF-8) said 'cannot read the alignment (UnicodeDecodeError …)'.  A file in
    neither encoding is refused with its name, the byte and how to convert it."""
    text = _long_textgrid([(0.1, 0.5, "grüß"), (0.6, 0.9, "日本")])
    for codec in ("utf-16-le", "utf-16-be"):
        p = tmp_path / f"{codec}.TextGrid"
        p.write_bytes(text.encode(codec))
        assert [w.label for w in read_alignment(p)] == ["grüß", "日本"], codec
    latin = tmp_path / "latin1.TextGrid"
    latin.write_bytes(_long_textgrid([(0.1, 0.5, "grüß")]).encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        read_alignment(latin)
    said = str(err.value)
    assert "latin1.TextGrid" in said and "not a text TextGrid in UTF-8 or UTF-16" in said and "is not UTF-8" in said
    assert "iconv -f" in said
    binary = tmp_path / "binary.TextGrid"
    binary.write_bytes(b"ooBinaryFile\x08TextGrid\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x01")
    with pytest.raises(ConfigError, match="holds NUL characters.*binary"):
        read_alignment(binary)


def test_a_textgrid_in_utf16_without_a_mark_is_read_though_a_character_at_its_start_holds_a_nul_on_the_other_side(tmp_path):
    """UTF-16 without a byte-order mark was taken only when the first 200 bytes held no NUL at all at the other parity:
    a tier named 一 (U+4E00: bytes 00 4E little-endian) in a short TextGrid put one there, and the file was refused as
    'holds NUL characters'.  The reader now shares ESD's rule (serialize.decode_sniffed_text): NULs 4 to 1 at one
    parity and a whole that decodes; UTF-8 is read, Latin-1 refused with the byte and an iconv command."""
    short = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n2.5\n<exists>\n1\n"IntervalTier"\n"一"\n'
             '0\n2.5\n2\n0.1\n0.5\n"一个"\n0.5\n0.9\n"grüß"\n')
    for codec in ("utf-16-le", "utf-16-be", "utf-8", "utf-8-sig", "utf-16"):
        p = tmp_path / f"{codec}.TextGrid"
        p.write_bytes(short.encode(codec))
        assert [w.label for w in read_alignment(p, tier="一")] == ["一个", "grüß"], codec
    latin = tmp_path / "latin.TextGrid"
    latin.write_bytes(short.replace("一个", "ok").replace("一", "w").encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        read_alignment(latin, tier="w")
    said = str(err.value)
    at = latin.read_bytes().index("ü".encode("latin-1"))
    assert f"latin.TextGrid: is not a text TextGrid in UTF-8 or UTF-16: byte {at} (0xfc) is not UTF-8" in said
    assert "iconv -f LATIN1 -t UTF-8 'latin.TextGrid' > 'latin.utf8.TextGrid'" in said


def hand_softmax(z):
    """The oracle's own softmax, written out (not the package's)."""
    e = [np.exp(v - max(z)) for v in z]
    return np.array([v / sum(e) for v in e])


def test_per_word_scores_are_the_softmax_of_the_mean_frame_logit_inside_each_word(tmp_path):
    words = read_alignment(textgrid(tmp_path / "a.TextGrid"))
    pred = prediction(100)
    table = per_word_scores(pred, words)
    for row, w in zip(table.itertuples(), words):
        # the oracle: frames whose 20 ms span is centred inside the word, their logits averaged by hand, then softmax
        inside = [t for t in range(100) if w.start <= t * 0.02 + 0.01 < w.end]
        assert row.n_frames == len(inside) and row.first_frame == inside[0]
        mean_logit = [sum(pred.frame_logits[t, k] for t in inside) / len(inside) for k in range(len(LABEL_KEYS))]
        want = hand_softmax(mean_logit)
        got = table.loc[row.Index, list(LABEL_KEYS)].to_numpy(float)
        assert np.allclose(got, want, atol=1e-12)
        # and not the mean of the frame probabilities (what the old rule gave): it differs on random logits
        assert not np.allclose(got, pred.frame_scores[inside].mean(axis=0), atol=1e-3)
        assert row.top == LABEL_KEYS[int(np.argmax(want))]
    assert "mean of the frame logits" in table.attrs["rule"] and "[start, end)" in table.attrs["frame_convention"]
    # 'the' is 0.10–0.42 s: frames 5..20 (centres 0.11 … 0.41)
    assert list(word_frames(words, 100)[0]) == list(range(5, 21))


def test_a_word_over_the_whole_clip_scores_exactly_like_the_clip():
    pred = prediction(100, seed=3)
    table = per_word_scores(pred, [Word(0.0, 2.0, "all")])
    assert np.allclose(table.loc[0, list(LABEL_KEYS)].to_numpy(float), pred.scores, atol=1e-12)
    rec = words_record([Word(0.0, 2.0, "all"), Word(0.5, 0.7, "part")], pred.frame_logits, LABEL_KEYS,
                       frame_relevance={"occlusion": np.r_[np.zeros(25), np.ones(10), np.zeros(65)]})
    whole, part = rec["items"]
    assert np.allclose([whole["scores"][k] for k in LABEL_KEYS], pred.scores, atol=1e-12)
    assert part["frames"] == [25, 34] and part["n_frames"] == 10 and part["uniform_share"] == pytest.approx(0.1)
    assert part["attribution_share"]["occlusion"] == pytest.approx(1.0) and whole["attribution_share"]["occlusion"] == pytest.approx(1.0)
    assert part["top"] == max(part["scores"], key=part["scores"].get)
    assert rec["methods"] == {"occlusion": {"reliable": None, "problems": []}}  # checks not given: not known, not "passed"
    flagged = words_record(WORDS, pred.frame_logits, LABEL_KEYS, frame_relevance={"ig": np.ones(100)},
                           problems={"ig": ["UNRELIABLE: IG completeness error 40 %"]})
    assert flagged["methods"]["ig"] == {"reliable": False, "problems": ["UNRELIABLE: IG completeness error 40 %"]}
    with pytest.raises(ConfigError, match="do not match"):
        words_record(WORDS, pred.frame_logits[:, :3], LABEL_KEYS)


def test_adjacent_words_share_no_frame_and_a_tiny_word_gets_one():
    frames = word_frames([Word(0.0, 0.5, "a"), Word(0.5, 1.0, "b"), Word(1.001, 1.005, "c")], 60)
    assert not set(frames[0]) & set(frames[1]) and len(frames[0]) + len(frames[1]) == 50
    assert list(frames[2]) == [50]


def test_per_word_attribution_shares():
    attr = np.zeros(100)
    attr[30:40] = 1.0   # all the mass inside 'quick' (0.42–0.96 s: frame centres 0.43 … 0.95 = frames 21..47)
    attr[60:62] = -1.0  # some negative evidence inside 'fox' (frames 60..79)
    table = per_word_attribution(attr, WORDS).set_index("label")
    assert table.loc["quick", "share"] == pytest.approx(10 / 12)
    assert table.loc["fox", "share"] == pytest.approx(2 / 12) and table.loc["the", "share"] == 0
    assert per_word_attribution(attr, WORDS, mass="positive").set_index("label").loc["quick", "share"] == pytest.approx(1.0)
    assert table.loc["quick", "uniform_share"] == pytest.approx(27 / 100)
    with pytest.raises(ConfigError, match="1-D"):
        per_word_attribution(np.ones((3, 3)), WORDS)
    with pytest.raises(ConfigError, match="mass"):
        per_word_attribution(attr, WORDS, mass="signed")


def test_per_word_scores_need_frames():
    pred = prediction(10)
    pred.frame_logits = None
    with pytest.raises(ConfigError, match="granularity"):
        per_word_scores(pred, WORDS)


def test_item_alignment_from_the_column_or_beside_the_audio(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"")
    assert alignment_beside(tmp_path / "clips" / "a.wav") is None
    assert item_alignment(Item(id="a", path="clips/a.wav"), root=tmp_path) is None
    textgrid(tmp_path / "clips" / "a.TextGrid")
    assert item_alignment(Item(id="a", path="clips/a.wav"), root=tmp_path) == WORDS
    (tmp_path / "other.ctm").write_text("u 1 0.1 0.2 hi\n")
    [w] = item_alignment(Item(id="a", path="clips/a.wav", meta={"words": "other.ctm"}), root=tmp_path)
    assert (w.label, w.start, w.end) == ("hi", 0.1, pytest.approx(0.3))
    with pytest.raises(ConfigError, match="words file"):
        item_alignment(Item(id="a", path="clips/a.wav", meta={"words": "nope.ctm"}), root=tmp_path)


def test_manifest_words_column_is_checked_and_read(tmp_path):
    from workbench.data.manifest import read_manifest

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    textgrid(tmp_path / "a_words.TextGrid")
    (tmp_path / "m.csv").write_text("id,path,words\na,a.wav,a_words.TextGrid\n")
    m = read_manifest(tmp_path / "m.csv")
    assert item_alignment(m.items[0], root=m.root) == WORDS
    (tmp_path / "bad.csv").write_text("id,path,words\na,a.wav,nope.TextGrid\n")
    with pytest.raises(ConfigError, match="missing words files.*nope.TextGrid"):
        read_manifest(tmp_path / "bad.csv")


def test_score_transcript_scores_each_subtitle_span_like_the_model_on_that_span(tmp_path, tiny_model):
    import soundfile as sf

    from conftest import speech_like
    from workbench.explain.transcript import score_transcript

    y = speech_like(16000, 4.0, seed=9)
    sf.write(tmp_path / "long.wav", y, 16000, subtype="FLOAT")
    (tmp_path / "long.srt").write_text("1\n00:00:00,200 --> 00:00:01,700\nfirst sentence\n\n"
                                       "2\n00:00:02,000 --> 00:00:02,010\ntoo short\n\n"
                                       "3\n00:00:02,500 --> 00:00:03,900\nthird one\n")
    table = score_transcript(tmp_path / "long.wav", tmp_path / "long.srt", model=tiny_model)
    assert list(table["status"]) == ["ok", "failed", "ok"] and "25 ms" in table.loc[1, "error"]
    assert table.attrs["warning"].startswith("RANDOM WEIGHTS")
    for i, (a, b) in ((0, (0.2, 1.7)), (2, (2.5, 3.9))):
        direct = tiny_model.predict([(y[int(a * 16000):int(b * 16000)], 16000)])[0]
        got = table.loc[i, [f"score_{k}" for k in LABEL_KEYS]].to_numpy(float)
        assert np.allclose(got, direct.scores, atol=1e-5) and table.loc[i, "label"] == direct.label
    # a span past the end of the audio is a failed row naming why; the spans before it are scored
    (tmp_path / "late.srt").write_text("1\n00:00:00,200 --> 00:00:01,700\nfine\n\n2\n00:00:03,000 --> 00:00:09,000\nlate\n")
    late = score_transcript(tmp_path / "long.wav", tmp_path / "late.srt", model=tiny_model)
    assert list(late["status"]) == ["ok", "failed"] and "ends past the end of the audio" in late.loc[1, "error"]
    assert np.allclose(late.loc[0, [f"score_{k}" for k in LABEL_KEYS]].to_numpy(float), table.loc[0, [f"score_{k}" for k in LABEL_KEYS]].to_numpy(float))


def test_score_transcript_reads_a_recording_longer_than_the_limit_and_holds_the_limit_per_span(tmp_path, tiny_model):
    """The per-clip limit (here lowered to 4 s) bounds each span, not the recording: spans after it are scored like the
    model on that stretch alone, a span over it fails alone naming the limit, and the audio held stays near the limit."""
    import soundfile as sf

    from conftest import speech_like
    from workbench.audio.intake import AudioConfig
    from workbench.explain.transcript import BLOCK_S, score_transcript

    sr = 16000
    y = np.concatenate([speech_like(sr, 5.0, seed=s) for s in range(4)])  # 20 s
    sf.write(tmp_path / "long.wav", y, sr, subtype="FLOAT")
    (tmp_path / "long.srt").write_text("1\n00:00:01,000 --> 00:00:03,000\nearly\n\n"
                                       "2\n00:00:08,000 --> 00:00:10,500\nafter the limit\n\n"
                                       "3\n00:00:11,000 --> 00:00:16,500\nlonger than the limit\n\n"
                                       "4\n00:00:16,000 --> 00:00:19,000\noverlaps the long one\n")
    table = score_transcript(tmp_path / "long.wav", tmp_path / "long.srt", model=tiny_model, audio_config=AudioConfig(max_duration_s=4.0))
    assert list(table["status"]) == ["ok", "ok", "failed", "ok"]
    assert "5.5 s long" in table.loc[2, "error"] and "over the 4 s limit" in table.loc[2, "error"]
    assert table.attrs["duration_s"] == pytest.approx(20.0)
    for i, (a, b) in ((0, (1.0, 3.0)), (1, (8.0, 10.5)), (3, (16.0, 19.0))):
        direct = tiny_model.predict([(y[int(a * sr):int(b * sr)], sr)])[0]
        got = table.loc[i, [f"score_{k}" for k in LABEL_KEYS]].to_numpy(float)
        assert np.allclose(got, direct.scores, atol=1e-5) and table.loc[i, "label"] == direct.label
    # the recording was never held whole: at most one span's audio (under the limit) and one block beside it
    assert table.attrs["max_buffer_s"] <= 4.0 + BLOCK_S + 0.01
