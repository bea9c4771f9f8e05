"""Long audio: the segmenter, streaming decode, aggregation, and the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, av_encode, speech_like, streamed_flac
from workbench.audio.intake import load
from workbench.cli import main
from workbench.errors import AudioError, ConfigError
from workbench.labels import LABEL_KEYS
from workbench.runs.longform import FRAME, SegmentConfig, _Segmenter, dominant_emotion, merge_timeline, segment_file
from workbench.explain.transcript import covered_seconds, span_overlaps

SR = 16000


def frames(pattern: list[tuple[float, int]]) -> np.ndarray:
    """Speech probabilities per 32 ms frame from (probability, n_frames) runs."""
    return np.concatenate([np.full(n, p, dtype=np.float32) for p, n in pattern])


def run_segmenter(cfg: SegmentConfig, probs: np.ndarray, chunk: int = 7):
    seg = _Segmenter(cfg)
    out = []
    for i in range(0, len(probs), chunk):  # fed in uneven chunks, as blocks arrive
        out += seg.push(probs[i:i + chunk], i)
    return out + seg.finish(), seg


# ----------------------------------------------------------------- segmenter


def test_segment_boundaries_pads_and_min_silence():
    cfg = SegmentConfig(min_silence_s=0.3, speech_pad_s=0.03, min_speech_s=0.25)  # 0.3 s = 9 frames
    probs = frames([(0.0, 20), (0.9, 30), (0.0, 5), (0.9, 20), (0.0, 40), (0.8, 25), (0.0, 10)])
    segs, seg = run_segmenter(cfg, probs)
    pad = int(0.03 * SR)
    # the 5-frame gap (160 ms) is shorter than min_silence: frames 20..75 are one segment
    assert segs == [(20 * FRAME - pad, 75 * FRAME + pad, False, False), (115 * FRAME - pad, 140 * FRAME + pad, False, False)]
    assert seg.dropped == 0


def test_short_bursts_are_dropped_and_hysteresis_keeps_weak_frames():
    cfg = SegmentConfig(min_silence_s=0.3, min_speech_s=0.25)  # 8 frames minimum
    # a 5-frame burst is dropped; inside speech a 0.4 frame (above threshold-0.15) continues it
    probs = frames([(0.0, 10), (0.9, 5), (0.0, 20), (0.9, 10), (0.4, 4), (0.9, 10), (0.0, 20)])
    segs, seg = run_segmenter(cfg, probs)
    assert seg.dropped == 1 and len(segs) == 1
    s, e, _, _ = segs[0]
    assert (s + int(0.03 * SR)) // FRAME == 35 and (e - int(0.03 * SR)) // FRAME == 59


def test_long_speech_is_split_at_its_last_pause_then_cut():
    cfg = SegmentConfig(max_segment_s=2.0, min_silence_s=0.5)  # 62 frames max, pauses ≥ 3 frames
    # 40 frames speech, a 4-frame pause (frames 40..43, middle 42), then 200 frames of speech without a pause
    probs = frames([(0.9, 40), (0.0, 4), (0.9, 200), (0.0, 30)])
    segs, seg = run_segmenter(cfg, probs)
    starts = [s // FRAME for s, *_ in segs]
    assert segs[0][2] is False and segs[0][3] is True and segs[0][1] == 42 * FRAME  # split in the pause
    assert all(e - s <= 62 * FRAME + int(0.03 * SR) for s, e, *_ in segs)
    assert starts[1] == 42 and segs[1][2] is True
    # consecutive split pieces touch exactly: nothing lost, nothing doubled
    for (s0, e0, _, split_end), (s1, *_rest) in zip(segs, segs[1:]):
        if split_end:
            assert e0 == s1
    assert segs[-1][1] == 244 * FRAME + int(0.03 * SR) and seg.splits >= 3


def test_config_errors_name_the_option():
    with pytest.raises(ConfigError, match="unknown VAD 'webrtc'"):
        SegmentConfig(vad="webrtc")
    with pytest.raises(ConfigError, match="--max"):
        SegmentConfig(max_segment_s=500)
    with pytest.raises(ConfigError, match="--min-silence"):
        SegmentConfig(min_silence_s=0.0)


# ---------------------------------------------------------------- aggregation


def _segments(rows):
    return pd.DataFrame([{"segment": i, "start": s, "end": e, "duration": e - s, "label": lab, "confidence": c}
                         for i, (s, e, lab, c) in enumerate(rows)])


def test_timeline_merges_same_label_neighbours_closer_than_the_gap():
    segs = _segments([(0, 2, "happy", 0.8), (3, 4, "happy", 0.5), (6.5, 7, "happy", 0.9), (7.5, 9, "sad", 0.6), (9.2, 10, "happy", 0.7)])
    tl = merge_timeline(segs, gap_s=2.0)
    assert list(tl["label"]) == ["happy", "happy", "sad", "happy"]  # the 2.5 s gap is not merged
    first = tl.iloc[0]
    assert (first["start"], first["end"], first["n_segments"]) == (0, 4, 2)
    assert first["confidence"] == pytest.approx((0.8 * 2 + 0.5 * 1) / 3)  # duration-weighted
    assert (first["first_segment"], first["last_segment"]) == (0, 1)


def test_dominant_emotion_is_most_frequent_and_ties_go_to_mean_confidence():
    assert dominant_emotion(_segments([(0, 1, "sad", 0.9), (1, 2, "happy", 0.4), (2, 3, "happy", 0.4)])) == "happy"
    assert dominant_emotion(_segments([(0, 1, "sad", 0.9), (1, 2, "happy", 0.4), (2, 3, "happy", 0.5), (3, 4, "sad", 0.3)])) == "sad"
    assert dominant_emotion(_segments([])) is None


# ---------------------------------------------------------------- end to end


def three_tones_file(path, sr=16000):
    """Three tones the tiny checkpoint labels two ways (seeded), as segments of one recording with pauses between them."""
    parts, rng = [], np.random.default_rng(0)
    for f in (200.0, 120.0, 200.0):
        t = np.arange(sr) / sr
        parts += [0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(sr),
                  np.zeros(int(0.8 * sr))]
    sf.write(path, np.concatenate(parts).astype(np.float32), sr)
    return path


def bursts_file(path, sr=16000, channels=1, layout=((1.0, 2.0), (4.0, 1.5), (7.0, 3.0)), total=11.0, seed=0):
    y = np.zeros(int(total * sr), dtype=np.float32)
    for k, (t0, d) in enumerate(layout):
        y[int(t0 * sr): int(t0 * sr) + int(d * sr)] = speech_like(sr, d, seed=seed + k)
    y += 1e-4 * np.random.default_rng(seed).standard_normal(len(y)).astype(np.float32)
    if channels == 2:
        y = np.stack([y, y], axis=1)
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def test_energy_vad_finds_the_bursts_at_their_original_times(tmp_path, tiny_model):
    layout = ((1.0, 2.0), (4.0, 1.5), (7.0, 3.0))
    path = bursts_file(tmp_path / "long.wav", layout=layout)
    res = segment_file(path, model=tiny_model, out_dir=tmp_path / "out", config=SegmentConfig(vad="energy"), figures=True)
    segs = res.segments
    assert len(segs) == 3
    for (t0, d), row in zip(layout, segs.itertuples()):
        assert abs(row.start - t0) < 0.1 and abs(row.end - (t0 + d)) < 0.15
    # each segment's scores are the model's scores for that stretch of the file
    y = load(path).samples
    direct = tiny_model.predict([y[int(r.start * SR): int(round(r.end * SR))] for r in segs.itertuples()])
    for p, row in zip(direct, segs.itertuples()):
        assert np.allclose([getattr(row, f"score_{k}") for k in LABEL_KEYS], p.scores, atol=1e-5)
    # heatmap: 100 ms cells, NaN where there is no speech, probabilities where there is
    heat = np.load(tmp_path / "out" / "heatmap.npz")
    assert heat["scores"].shape == (110, 9) and list(heat["labels"]) == list(LABEL_KEYS)
    assert np.isnan(heat["scores"][:9]).all() and np.isnan(heat["scores"][36:39]).all()
    covered = np.isfinite(heat["scores"][:, 0])
    assert np.allclose(heat["scores"][covered].sum(axis=1), 1.0, atol=1e-5) and covered[12:28].all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["random_weights"] is True and summary["n_segments"] == 3 and summary["dominant_emotion"] == res.dominant
    assert (tmp_path / "out" / "segments.csv").is_file() and not (tmp_path / "out" / "segments.csv.partial").exists()
    assert np.load(tmp_path / "out" / "embeddings.npy").shape == (3, tiny_model.info.embed_dim)
    assert (tmp_path / "out" / "heatmap.png").stat().st_size > 5000
    assert "vad_segment(vad=energy" in (tmp_path / "out" / "log.txt").read_text()


def test_block_size_and_source_format_leave_no_seams(tmp_path, tiny_model):
    """Blocks of 0.7 s (segments span many blocks) give what one 30 s block gives; a 44.1 kHz stereo
    FLAC and an m4a decoded in-process by PyAV give the same segments as the 16 kHz WAV, and the
    buffer never holds much more than a block and a segment."""
    wav = bursts_file(tmp_path / "a.wav")
    a = segment_file(wav, model=tiny_model, out_dir=tmp_path / "a", config=SegmentConfig(vad="energy"), figures=False)
    b = segment_file(wav, model=tiny_model, out_dir=tmp_path / "b", config=SegmentConfig(vad="energy", block_s=0.7), figures=False)
    pd.testing.assert_frame_equal(a.segments, b.segments)
    assert b.summary["max_buffer_s"] < 0.7 + 3.0 + 0.5

    flac = bursts_file(tmp_path / "c.flac", sr=44100, channels=2)
    c = segment_file(flac, model=tiny_model, out_dir=tmp_path / "c", config=SegmentConfig(vad="energy"), figures=False)
    assert len(c.segments) == 3 and np.allclose(c.segments["start"], a.segments["start"], atol=0.07)
    assert "resample(method=soxr-stream" in c.log.render() and "mixdown" in c.log.render()
    m4a = av_encode(sf.read(wav, dtype="float32")[0], SR, tmp_path / "d.m4a", "aac", bit_rate=96000)
    d = segment_file(m4a, model=tiny_model, out_dir=tmp_path / "d", config=SegmentConfig(vad="energy"), figures=False)
    assert d.summary["source"]["decoder"].startswith("PyAV") and d.summary["source"]["decoder"].endswith(", streamed")
    assert d.summary["source"]["codec"] == "aac" and len(d.segments) == 3
    assert np.allclose(d.segments["start"], a.segments["start"], atol=0.1)


def test_a_streamed_flac_of_unknown_length_is_segmented(tmp_path, tiny_model):
    """A FLAC written to a pipe has total_samples = 0; libsndfile then reports 2**63 - 1 frames. It used to be
    refused as "209146758205323.7 s long" by `infer` and to crash `segment`; it is 11 s of valid audio."""
    wav = bursts_file(tmp_path / "a.wav")
    flac = streamed_flac(sf.read(wav, dtype="float32")[0], SR, tmp_path / "piped.flac")
    assert sf.info(str(flac)).frames > 2**62  # the header really does not know the length
    a = segment_file(wav, model=tiny_model, out_dir=tmp_path / "a", config=SegmentConfig(vad="energy"), figures=False)
    res = segment_file(flac, model=tiny_model, out_dir=tmp_path / "f", config=SegmentConfig(vad="energy"), figures=False)
    assert res.summary["source"]["declared_duration"] is None
    assert res.summary["duration_s"] == pytest.approx(11.0, abs=1e-3)
    pd.testing.assert_frame_equal(res.segments, a.segments)
    assert main(["segment", str(flac), "--vad", "energy", "--model", "tiny", "--out", str(tmp_path / "cli")]) == 0


def test_silero_vad_on_synthetic_speech_between_silences(tmp_path, tiny_model):
    demo = REPO / "workbench" / "demo_data"
    parts, spans, t = [np.zeros(SR // 2, np.float32)], [], 0.5
    for name in ("happy_en_44k.wav", "sad_en.ogg", "neutral_en_vbr.mp3"):
        y = load(demo / name).samples
        parts += [y, np.zeros(int(1.5 * SR), np.float32)]
        spans.append((t, t + len(y) / SR))
        t += len(y) / SR + 1.5
    sf.write(tmp_path / "talk.wav", np.concatenate(parts), SR)
    res = segment_file(tmp_path / "talk.wav", model=tiny_model, out_dir=tmp_path / "out", figures=False)
    assert res.summary["vad"]["name"] == "silero"
    assert len(res.segments) >= 3
    for lo, hi in spans:  # every spoken clip is covered by segments, and no segment lies in the 1.5 s gaps
        inside = res.segments[(res.segments["end"] > lo) & (res.segments["start"] < hi)]
        assert len(inside) >= 1
    assert ((res.segments["start"] >= 0.5 - 0.05) & (res.segments["end"] <= t)).all()


def test_no_speech_and_bad_input(tmp_path, tiny_model):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(3 * SR, np.float32), SR)
    res = segment_file(quiet, model=tiny_model, out_dir=tmp_path / "q", config=SegmentConfig(vad="energy"), figures=False)
    assert len(res.segments) == 0 and res.dominant is None and "no speech found" in res.log.render()
    assert np.isnan(res.heatmap).all()
    with pytest.raises(AudioError, match="file not found"):
        segment_file(tmp_path / "nope.wav", model=tiny_model, out_dir=tmp_path / "n")
    (tmp_path / "junk.mp3").write_bytes(b"definitely not audio" * 10)
    with pytest.raises(AudioError, match="could not decode"):
        segment_file(tmp_path / "junk.mp3", model=tiny_model, out_dir=tmp_path / "j")


def test_segment_command(tmp_path, capsys):
    path = bursts_file(tmp_path / "long.wav")
    assert main(["segment", str(path), "--vad", "energy", "--model", "tiny", "--out", str(tmp_path / "o"), "--max", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "3 speech segments" in out and "dominant emotion:" in out
    # the counts are named as counts: it read 'dominant emotion: sad  sad 2, happy 1'
    assert re.search(r"^dominant emotion: \w+ \(segments per label: \w+ \d(, \w+ \d)*\)(; (against|not testable).*)?$", out, re.M), out
    assert pd.read_csv(tmp_path / "o" / "timeline.csv")["n_segments"].sum() == 3
    assert main(["segment", str(path), "--vad", "energy", "--min-silence", "0", "--model", "tiny"]) == 2
    assert "--min-silence" in capsys.readouterr().err


def test_segment_says_plainly_when_no_speech_was_found(tmp_path, capsys):
    """Digital silence: the screen and summary.json say no speech was found, why (every sample is 0) and which
    option could change it; a recording with speech does not say so."""
    sf.write(tmp_path / "silent.wav", np.zeros(3 * SR, np.float32), SR)
    assert main(["segment", str(tmp_path / "silent.wav"), "--model", "tiny", "--out", str(tmp_path / "s"), "--no-figures"]) == 0
    screen = capsys.readouterr().out
    assert "!! no speech found" in screen and "digital silence" in screen and "--threshold" in screen
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["no_speech"] is True and summary["n_segments"] == 0 and summary["peak_dbfs"] is None
    assert "lower --threshold (now 0.5" in summary["note"] and "--vad energy" in summary["note"]
    assert "no speech found" in (tmp_path / "s" / "log.txt").read_text()
    assert main(["segment", str(tmp_path / "silent.wav"), "--vad", "energy", "--model", "tiny", "--out", str(tmp_path / "e"), "--json"]) == 0
    energy = json.loads(capsys.readouterr().out)
    assert energy["no_speech"] is True and "--vad silero" in energy["note"] and "--threshold" not in energy["note"]
    path = bursts_file(tmp_path / "speech.wav")
    assert main(["segment", str(path), "--vad", "energy", "--model", "tiny", "--out", str(tmp_path / "v"), "--no-figures"]) == 0
    assert "no speech found" not in capsys.readouterr().out
    spoken = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert spoken["no_speech"] is False and spoken["note"] is None and -20 < spoken["peak_dbfs"] < 0


def test_segment_with_a_transcript_reads_a_recording_over_120_s_and_records_its_provenance(tmp_path, capsys, tiny_model):
    """The README's `segment interview.wav --transcript interview.srt` on a 125 s recording: scored span by span
    (one of them after 120 s), and the folder records what the VAD mode records (model, checksum, dtype, audio
    config, random weights, source sha256) and holds a log.txt."""
    import hashlib

    y = np.tile(speech_like(SR, 5.0, seed=2), 25)  # 125 s, over the 120 s limit of one forward pass
    wav = tmp_path / "interview.wav"
    sf.write(wav, y, SR, subtype="FLOAT")
    (tmp_path / "interview.srt").write_text("1\n00:00:01,000 --> 00:00:03,500\nopening\n\n"
                                            "2\n00:01:00,000 --> 00:01:02,000\nmiddle\n\n"
                                            "3\n00:02:01,000 --> 00:02:04,000\nafter two minutes\n")
    out = tmp_path / "tr"
    assert main(["segment", str(wav), "--transcript", str(tmp_path / "interview.srt"), "--model", "tiny", "--dtype", "float32",
                 "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    assert "125.0 s, 3 transcript spans" in screen and "3 scored, 0 failed" in screen and "log.txt" in screen
    table = pd.read_csv(out / "sentences.csv")
    want = tiny_model.predict([y[121 * SR:124 * SR]])[0]
    np.testing.assert_allclose(table.loc[2, [f"score_{k}" for k in want.labels]].to_numpy(float), want.scores, atol=1e-4)
    summary = json.loads((out / "transcript_summary.json").read_text())
    assert summary["duration_s"] == pytest.approx(125.0) and summary["max_buffer_s"] < 120
    assert summary["source"]["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert summary["model"]["checksum"] == tiny_model.info.checksum and summary["model"]["dtype"] == "float32"
    assert summary["random_weights"] is True and summary["audio_config"]["max_duration_s"] == 120.0
    # the dominant label's test respects the spans' time order (the run test), named on screen too
    assert summary["dominant_test"].get("testable") is False if len(summary["label_counts"]) < 2 else summary["dominant_test"]["test"].startswith("run test (")
    assert len(summary["label_counts"]) < 2 or "against " in screen and "run test (" in screen
    # the same provenance fields as the VAD mode's summary.json
    assert main(["segment", str(bursts_file(tmp_path / "b.wav")), "--vad", "energy", "--model", "tiny", "--dtype", "float32",
                 "--out", str(tmp_path / "vad"), "--no-figures"]) == 0
    vad = json.loads((tmp_path / "vad" / "summary.json").read_text())
    for key in ("source", "model", "audio_config", "random_weights", "workbench_version", "seconds", "peak_rss_mb", "max_buffer_s"):
        assert key in summary and type(summary[key]) is type(vad[key]), key
    assert set(summary["model"]) == set(vad["model"]) and summary["model"]["checksum"] == vad["model"]["checksum"]
    assert set(summary["source"]) == set(vad["source"])
    log = (out / "log.txt").read_text()
    assert "Duration: 125.00s" in log and "3 spans, 3 scored, 0 failed" in log and "RANDOM WEIGHTS" in log


def test_segment_with_a_transcript_gives_one_emotion_per_sentence(tmp_path, capsys, tiny_model):
    """`segment --transcript`: each subtitle span scored as the model scores that span alone; bad formats and VAD options refused."""
    y = speech_like(SR, 4.0, seed=5)
    sf.write(tmp_path / "talk.wav", y, SR, subtype="FLOAT")
    (tmp_path / "talk.vtt").write_text("WEBVTT\n\n00:00:00.200 --> 00:00:01.700\nfirst sentence \x1b[2J\n\n"
                                       "00:00:02.000 --> 00:00:03.900\nsecond sentence\n\n"
                                       "00:00:03.950 --> 00:00:03.960\ntoo short\n")
    out = tmp_path / "o"
    rc = main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "talk.vtt"), "--model", "tiny", "--dtype", "float32", "--out", str(out)])  # compared with float32 below
    screen = capsys.readouterr().out
    assert rc == 1  # one span failed, the others were scored
    assert screen.startswith("!! RANDOM WEIGHTS") and "3 transcript spans" in screen and "2 scored, 1 failed" in screen
    assert "first sentence" in screen and "merge it with a neighbouring span" in screen
    assert "\x1b" not in screen and "\\x1b[2J" in screen  # a subtitle's escape sequence is shown, never run by the terminal
    table = pd.read_csv(out / "sentences.csv")
    assert list(table["status"]) == ["ok", "ok", "failed"]
    # the oracle: the model on each span cut by hand
    for r, (a, b) in zip(table.itertuples(), [(0.2, 1.7), (2.0, 3.9)]):
        want = tiny_model.predict([y[int(round(a * SR)):int(round(b * SR))]])[0]
        got = np.array([getattr(r, f"score_{k}") for k in want.labels])
        np.testing.assert_allclose(got, want.scores, atol=1e-4)
        assert r.label == want.label
    summary = json.loads((out / "transcript_summary.json").read_text())
    assert summary["n_spans"] == 3 and summary["n_failed"] == 1 and summary["dominant"] == dominant_emotion(table[table["status"] == "ok"])
    assert summary["segmentation"] == "transcript" and summary["warning"]
    # its provenance, as the VAD mode records it, and a log
    assert summary["model"]["checksum"] == tiny_model.info.checksum and summary["model"]["dtype"] == "float32"
    assert summary["random_weights"] is True and summary["audio_config"]["mixdown"] == "mean"
    assert "span 2 (3.95–3.96 s) failed" in (out / "log.txt").read_text()
    # one span past the end of the audio: a failed row that says so, the others scored (it used to refuse the whole file)
    (tmp_path / "late.vtt").write_text("WEBVTT\n\n00:00:00.200 --> 00:00:01.700\nfirst\n\n00:00:03.500 --> 00:00:07.000\nrunning over\n\n"
                                       "00:00:05.000 --> 00:00:06.000\nafter the end\n")
    late = tmp_path / "late"
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "late.vtt"), "--model", "tiny", "--dtype", "float32", "--out", str(late)]) == 1
    assert "1 scored, 2 failed" in capsys.readouterr().out
    lt = pd.read_csv(late / "sentences.csv")
    assert list(lt["status"]) == ["ok", "failed", "failed"]
    assert "ends past the end of the audio" in lt.loc[1, "error"] and "starts past the end of the audio" in lt.loc[2, "error"]
    np.testing.assert_allclose(lt.loc[0, [c for c in lt.columns if c.startswith("score_")]].to_numpy(float),
                               table.loc[0, [c for c in table.columns if c.startswith("score_")]].to_numpy(float), atol=1e-6)
    (tmp_path / "talk.txt").write_text("no times here")
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "talk.txt"), "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "not known" in err and ".TextGrid" in err and ".srt" in err and ".vtt" in err and ".ctm" in err
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "talk.vtt"), "--vad", "energy", "--max", "5"]) == 2
    assert "--max, --vad set the voice activity detector" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "talk.wav"), "--tier", "words", "--model", "tiny"]) == 2
    assert "--tier applies to --transcript" in capsys.readouterr().err


def test_a_file_name_with_a_newline_stays_on_the_summary_line(tmp_path, tiny_model):
    # `workbench segment`'s first line names the file: a newline in the name started a fake line of its own
    path = bursts_file(tmp_path / "talk\nerror: the model is missing.wav", layout=((1.0, 2.0),))
    res = segment_file(path, model=tiny_model, out_dir=tmp_path / "out", config=SegmentConfig(vad="energy"), figures=False)
    lines = res.render().splitlines()
    assert not any(line.startswith("error:") for line in lines), lines
    assert any(line.startswith("talk\\nerror: the model is missing.wav: ") for line in lines), lines


def test_a_flac_cut_in_half_streams_through_the_next_decoder_as_it_loads(tmp_path):
    """`workbench segment` refused a FLAC cut in half ('decoding failed at 0.0 s (flac decoder lost sync)') that `run`
    reads: load() falls back to PyAV when libsndfile fails, the stream did not (the hostile round)."""
    import soundfile as sf

    from workbench.audio.intake import AudioConfig, load, stream

    whole = tmp_path / "whole.flac"
    sf.write(whole, speech_like(16000, 40.0, seed=8), 16000, format="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    loaded = load(cut)
    streamed = np.concatenate(list(stream(cut, config=AudioConfig()).blocks()))
    assert 15.0 < len(streamed) / 16000 < 25.0
    assert abs(len(streamed) - len(loaded.samples)) <= 160  # what the fallback decoder reads, both ways


def test_overlapping_transcript_spans_are_scored_and_counted(tmp_path, capsys, tiny_model):
    """Two speakers at once are legal in a conversation transcript: every span is scored, and the overlap is counted on
    the screen, in the summary, the log and a column, instead of passing without a word (and spoken_s counted the shared
    time twice: 4.0 s of spans in 3.7 s of speech)."""
    sf.write(tmp_path / "talk.wav", speech_like(SR, 4.0, seed=5), SR, subtype="FLOAT")
    (tmp_path / "talk.srt").write_text("1\n00:00:00,200 --> 00:00:01,800\nA speaks\n\n2\n00:00:01,500 --> 00:00:02,500\nB cuts in\n\n"
                                       "3\n00:00:02,500 --> 00:00:03,900\nA again, touching B's end\n")
    out = tmp_path / "o"
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "talk.srt"), "--model", "tiny", "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    assert "!! 2 of 3 transcript spans overlap another (1 overlapping pair, 0.30 s covered by two or more spans)" in screen
    assert "3 scored, 0 failed" in screen and screen.count("[0.30 s overlapped]") == 2
    summary = json.loads((out / "transcript_summary.json").read_text())
    assert summary["overlaps"]["pairs"] == 1 and summary["overlaps"]["spans"] == 2 and summary["overlaps"]["examples"] == [[0, 1]]
    assert summary["overlaps"]["seconds"] == pytest.approx(0.3) and summary["spoken_s"] == pytest.approx(3.7)
    assert "spans 0 and 1 (0.20–1.80 s, 1.50–2.50 s)" in (out / "log.txt").read_text()
    table = pd.read_csv(out / "sentences.csv")
    np.testing.assert_allclose(table["overlap_s"], [0.3, 0.3, 0.0])
    # spans that only touch do not overlap: no note at all
    (tmp_path / "plain.srt").write_text("1\n00:00:00,200 --> 00:00:01,500\none\n\n2\n00:00:01,500 --> 00:00:03,000\ntwo\n")
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "plain.srt"), "--model", "tiny",
                 "--out", str(tmp_path / "p"), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["overlaps"] == {"pairs": 0, "spans": 0, "seconds": 0.0, "examples": [], "words": ""} and plain["spoken_s"] == 2.8


def test_overlaps_are_counted_among_the_scored_spans_only(tmp_path, capsys, tiny_model):
    """Two spans past the end of a 4 s recording failed, yet overlapped each other: the screen said "4 of 4 transcript
    spans overlap another … each is scored on all the audio of its stretch" and counted 0.6 s shared, 0.3 s of it
    past the end of the audio, for spans that were never scored."""
    sf.write(tmp_path / "talk.wav", speech_like(SR, 4.0, seed=5), SR, subtype="FLOAT")
    (tmp_path / "t.srt").write_text("1\n00:00:00,200 --> 00:00:01,800\nA\n\n2\n00:00:01,500 --> 00:00:02,500\nB\n\n"
                                    "3\n00:00:03,500 --> 00:00:04,500\npast the end\n\n4\n00:00:04,200 --> 00:00:05,000\nafter it\n")
    out = tmp_path / "o"
    assert main(["segment", str(tmp_path / "talk.wav"), "--transcript", str(tmp_path / "t.srt"), "--model", "tiny", "--out", str(out)]) == 1
    screen = capsys.readouterr().out  # exit 1: some spans failed
    assert "2 scored, 2 failed" in screen
    assert "!! 2 of 2 scored transcript spans (the 2 failed not counted) overlap another (1 overlapping pair, 0.30 s" in screen, screen
    summary = json.loads((out / "transcript_summary.json").read_text())
    assert summary["overlaps"]["pairs"] == 1 and summary["overlaps"]["examples"] == [[0, 1]]
    assert summary["overlaps"]["seconds"] == pytest.approx(0.3)
    table = pd.read_csv(out / "sentences.csv")
    np.testing.assert_allclose(table["overlap_s"], [0.3, 0.3, np.nan, np.nan])


def test_span_overlaps_counts_pairs_and_the_time_shared():
    # a long span holding two others that overlap each other too, and one apart
    per_span, ov = span_overlaps([0.0, 1.0, 2.0, 10.0], [5.0, 3.0, 4.0, 11.0])
    assert ov["pairs"] == 3 and ov["spans"] == 3 and ov["seconds"] == pytest.approx(3.0)  # 1–4 s is covered twice or more
    np.testing.assert_allclose(per_span, [3.0, 2.0, 2.0, 0.0])
    assert ov["examples"] == [[0, 1], [0, 2], [1, 2]] and ov["words"].startswith("3 of 4 transcript spans overlap another (3 overlapping pairs")
    assert covered_seconds([0.0, 1.0, 2.0, 10.0], [5.0, 3.0, 4.0, 11.0]) == pytest.approx(6.0)


@pytest.mark.parametrize("layout,total", [(((0.0, 2.0), (4.0, 1.5), (7.0, 3.0)), 11.0), (((0.0, 1.2),), 2.0)])
def test_energy_vad_keeps_speech_that_starts_at_the_first_sample(tmp_path, tiny_model, layout, total):
    """The energy detector's noise floor came from the frames already read; in a file that starts speaking those are
    speech, so its first utterance was measured against itself and lost (no segment before 4 s). A file shorter than
    the look-ahead is decided at its end; any block size gives the same segments."""
    path = bursts_file(tmp_path / "start.wav", layout=layout, total=total)
    a = segment_file(path, model=tiny_model, out_dir=tmp_path / "a", config=SegmentConfig(vad="energy"), figures=False)
    assert len(a.segments) == len(layout)
    for (t0, d), row in zip(layout, a.segments.itertuples()):
        assert abs(row.start - t0) < 0.1 and abs(row.end - (t0 + d)) < 0.15
    b = segment_file(path, model=tiny_model, out_dir=tmp_path / "b", config=SegmentConfig(vad="energy", block_s=0.7), figures=False)
    pd.testing.assert_frame_equal(a.segments, b.segments)


def test_a_dominant_emotion_not_ahead_of_its_runner_up_is_flagged_on_screen_in_summary_figure_and_widget(tmp_path, tiny_model):
    """segment printed 'dominant emotion: disgusted (segments per label: disgusted 2, happy 1)' as a finding: 2 against 1
    is an exact binomial p of 1, and a tie (3 and 3) was broken by mean confidence unsaid."""
    from scipy.stats import binomtest

    from workbench.runs.longform import dominant_check, plot_longform
    from workbench.views.widgets import LongAudioTimeline

    assert dominant_check("sad", {"sad": 3, "happy": 3}).startswith("not measurably dominant: a tie, sad and happy 3 each")
    assert f"p = {binomtest(9, 11).pvalue:.2g}" in dominant_check("sad", {"sad": 9, "happy": 2, "angry": 1})
    assert dominant_check("sad", {"sad": 12, "happy": 1}) == "" and dominant_check("sad", {"sad": 3}) == ""
    three_tones_file(tmp_path / "long.wav")
    res = segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"),
                       figures=False)
    counts = res.summary["label_counts"]
    assert len(counts) >= 2 and sum(counts.values()) == 3, counts  # the failure: a winner by one segment, or none
    check = json.loads((tmp_path / "seg" / "summary.json").read_text())["dominant_check"]
    order = res.segments.sort_values("start")["label"].tolist()  # the run test's time order (neighbours are not independent)
    assert check.startswith("not measurably dominant") and check == dominant_check(res.dominant, counts, None, order)
    assert f"!! {check}" in res.render() and "run test (" in res.render()
    fig = plot_longform(res)
    assert any(check[:40] in ax.get_title().replace("\n", " ") for ax in fig.axes)
    # the dominant label with its count and denominator, in a flagged (crimson) title: "dominant: disgusted" stood alone
    title = fig.axes[0].get_title()
    assert f"dominant: {res.dominant} ({counts[res.dominant]} of 3 segments)" in title and fig.axes[0].title.get_color() == "crimson"
    assert check[:40] in LongAudioTimeline(tmp_path / "seg").widget.children[0].value
    assert f"<b>{res.dominant}</b> ({counts[res.dominant]} of 3 segments)" in LongAudioTimeline(tmp_path / "seg").widget.children[0].value


def test_the_segment_figure_states_its_timeline_merge_rule(tmp_path, tiny_model):
    """The timeline row merges neighbouring segments of one label less than merge_gap_s apart: the screen said so, the
    figure (heatmap.png) did not, so its bars read as the segments themselves."""
    from workbench.runs.longform import plot_longform

    res = segment_file(bursts_file(tmp_path / "a.wav"), model=tiny_model, out_dir=tmp_path / "s",
                       config=SegmentConfig(vad="energy", merge_gap_s=1.5), figures=False)
    fig = plot_longform(res)
    label = fig.axes[1].get_xlabel()
    assert "same label merged when < 1.5 s apart" in " ".join(label.split()), label
    # and within the figure: one line of it ran past both edges of heatmap.png (wrapped now)
    fig.canvas.draw()
    box, text = fig.bbox, fig.axes[1].xaxis.label.get_window_extent()
    assert box.x0 <= text.x0 and text.x1 <= box.x1, (text, box)


def test_a_dominant_emotion_by_segment_count_that_holds_less_of_the_time_is_flagged_everywhere(tmp_path, tiny_model):
    """segment printed 'dominant emotion: disgusted (segments per label: disgusted 8, neutral 1)' with no flag (8 to 1 is an
    exact binomial p of 0.039) while the one neutral segment held 12.1 s of the 18.9 s scored: the count is of VAD
    segments, whose lengths differ.  The dominant label is now checked against the seconds each label holds too."""
    from workbench.runs.longform import dominant_check, plot_longform
    from workbench.views.widgets import LongAudioTimeline

    words = dominant_check("sad", {"sad": 8, "happy": 1}, {"sad": 4.0, "happy": 20.0})
    assert words == ("not dominant by time: happy holds 20.0 s of the 24.0 s scored (1 segment(s)) against sad's 4.0 s (8): "
                     "the count is of segments, whose lengths differ")
    assert dominant_check("sad", {"sad": 8, "happy": 1}, {"sad": 8.0, "happy": 2.0}) == ""
    both = dominant_check("sad", {"sad": 3, "happy": 2}, {"sad": 3.0, "happy": 9.0})
    assert both.startswith("not measurably dominant: sad 3 against happy 2") and "; not dominant by time: happy holds 9.0 s" in both
    sr, parts, rng = 16000, [], np.random.default_rng(0)
    for f, d in [(80.0, 0.8)] * 8 + [(2000.0, 12.0)]:  # eight short bursts and one long one, labelled two ways (seeded)
        t = np.arange(int(d * sr)) / sr
        parts += [0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(len(t)),
                  np.zeros(int(0.8 * sr))]
    sf.write(tmp_path / "long.wav", np.concatenate(parts).astype(np.float32), sr)
    res = segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"),
                       figures=False)
    counts, seconds = res.summary["label_counts"], res.summary["label_seconds"]
    longest = max(seconds, key=seconds.get)
    assert len(counts) == 2 and counts[res.dominant] == 8 and longest != res.dominant, (counts, seconds)
    check = json.loads((tmp_path / "seg" / "summary.json").read_text())["dominant_check"]
    # eight short segments then one long: two runs, which the run test does not count as 9 independent draws (binomial p 0.039)
    order = res.segments.sort_values("start")["label"].tolist()
    assert check == dominant_check(res.dominant, counts, seconds, order) and f"; not dominant by time: {longest} holds" in check
    assert check.startswith("not measurably dominant") and "in 2 runs of one label" in check
    assert f"!! {check}" in res.render()
    fig = plot_longform(res)
    assert any(check[:40] in ax.get_title().replace("\n", " ") for ax in fig.axes)
    assert check[:40] in LongAudioTimeline(tmp_path / "seg").widget.children[0].value
