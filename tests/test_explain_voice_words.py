"""explanation.json carries the voice and the words, and every figure in it recomputes from the file.

Oracles: per-word scores recomputed by hand from the frame logits stored in the same file
(softmax of the mean logit over the frames centred in the word); the clip's score from the
same logits; attribution shares from the stored map.  Constructed failure: a zero-padded clip,
whose contours must hold null (not −300 dB) over the zeros, with the exclusion said.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.cli import main
from workbench.explain.explanation import explain_clip
from workbench.explain.figure import plot_explanation
from workbench.explain.voice import contours_on_frames, pitch_intensity
from workbench.explain.words import Word, words_record

SR = 16000
WORDS = [Word(0.30, 0.75, "one"), Word(0.75, 1.31, "two"), Word(1.50, 1.52, "tiny")]


def padded_clip(sr=SR):
    y = speech_like(sr, 1.4, seed=7)
    z = np.zeros(int(0.3 * sr), dtype=np.float32)
    return np.concatenate([z, y, z])  # 2.0 s, zeros over [0, 0.3) and [1.7, 2.0)


def hand_softmax(z):
    e = [np.exp(v - max(z)) for v in z]
    return [v / sum(e) for v in e]


@pytest.fixture(scope="module")
def explained(tiny_model):
    import torch

    torch.set_num_threads(1)
    y = padded_clip()
    expl = explain_clip(tiny_model, y, methods=("occlusion",), steps=4, randomisation=None,
                        options={"occlusion": {"window_s": 0.2, "stride_s": 0.1}})
    pitch = pitch_intensity(y, SR)
    expl.voice = contours_on_frames(pitch, len(expl.frame_logits), frame_rate=50)
    expl.words = words_record(WORDS, expl.frame_logits, list(expl.scores), source="test",
                              frame_relevance={m: a.frame_relevance for m, a in expl.attributions.items()})
    return expl, y, pitch


def test_words_in_the_json_recompute_by_hand_from_its_frame_logits(explained):
    expl, _, _ = explained
    d = json.loads(expl.to_json())
    logits = d["frame_scores"]["logits"]
    labels = d["frame_scores"]["labels"]
    assert d["words"]["labels"] == labels and "[start, end)" in d["words"]["frame_convention"]
    # the clip's score is the softmax of the mean frame logit (that is the rule the words follow)
    mean = [sum(f[k] for f in logits) / len(logits) for k in range(len(labels))]
    assert np.allclose(hand_softmax(mean), [d["scores"][k] for k in labels], atol=1e-4)
    for w, item in zip(WORDS, d["words"]["items"]):
        inside = [t for t in range(len(logits)) if w.start <= (t + 0.5) / 50 < w.end]
        if not inside:  # shorter than a frame: the frame under its midpoint
            inside = [int((w.start + w.end) / 2 * 50)]
        assert item["frames"] == [inside[0], inside[-1]] and item["n_frames"] == len(inside)
        mean = [sum(logits[t][k] for t in inside) / len(inside) for k in range(len(labels))]
        assert np.allclose(hand_softmax(mean), [item["scores"][k] for k in labels], atol=1e-4), w.label
        assert item["top"] == labels[int(np.argmax(mean))]
        rel = np.abs(np.asarray(d["methods"]["occlusion"]["attribution"]["frame_relevance"], dtype=float))
        assert item["attribution_share"]["occlusion"] == pytest.approx(rel[inside].sum() / rel.sum(), abs=1e-5)
        assert (item["start_s"], item["end_s"], item["label"]) == (w.start, w.end, w.label)


def test_voice_in_the_json_is_on_the_models_frames_with_silence_null(explained):
    expl, _, pitch = explained
    d = json.loads(expl.to_json())
    v = d["voice"]
    n = len(d["frame_scores"]["logits"])
    assert v["rate_hz"] == 50 and len(v["f0_hz"]) == len(v["intensity_db"]) == n
    assert v["sample_rate_hz"] == SR and v["excluded"]["silence_s"] == pytest.approx(0.6, abs=0.01)
    assert all(x is None for x in v["intensity_db"][:12] + v["intensity_db"][88:])  # deep inside the zeros
    level = [x for x in v["intensity_db"] if x is not None]
    assert level and min(level) > 0 and max(level) < 120
    f0 = [x for x in v["f0_hz"] if x is not None]
    assert f0 and 60 < min(f0) and max(f0) < 250


def test_the_figures_voice_row_shows_levels_not_praats_floor(explained):
    import matplotlib.pyplot as plt

    expl, y, pitch = explained
    fig = plot_explanation(expl, y, pitch=pitch, words=WORDS)
    db_axes = [a for a in fig.axes if a.get_ylabel() == "dB"]
    assert len(db_axes) == 1 and db_axes[0].get_ylim()[0] > 0  # it ran to −250 dB over digital silence
    titles = " ".join(a.get_title(loc="left") for a in fig.axes)
    assert "measured at 16000 Hz" in titles and "digital silence left out: 0.60 s" in titles
    plt.close(fig)


def test_the_voice_rows_axes_hold_every_f0_and_intensity_point_drawn(explained):
    """A range under 10 Hz (6 dB) was widened to 10 Hz about the *median*: a 100 Hz tone with a few frames at 109 Hz
    drew them above its 95–105 Hz axis, a 60 dB level with a dip to 55 dB below 57–63 dB (the dots and the line ran
    off the row unseen).  Low and high voices (60 Hz, 600 Hz), an octave jump and skewed wobbles, each read back from
    the lines matplotlib holds against the axis's limits."""
    import matplotlib.pyplot as plt

    expl, y, _ = explained
    times = np.arange(200) * 0.01
    ramp = np.linspace(0, 1, 200)
    cases = {"a few frames 9 Hz above a steady tone": (np.where(ramp > 0.95, 109.0, 100.0), np.where(ramp > 0.95, 65.5, 60.0)),
             "a few frames 9 Hz below": (np.where(ramp < 0.05, 91.0, 100.0), np.where(ramp < 0.05, 55.0, 60.0)),
             "a 60 Hz voice": (60.0 + 3 * ramp, 50 + 2 * ramp), "a 600 Hz voice": (600 - 4 * ramp, 70 - 20 * ramp),
             "an octave jump": (np.where(ramp < 0.5, 150.0, 300.0), 40 + 40 * ramp)}
    for name, (f0, db) in cases.items():
        f0 = np.where(np.arange(200) % 7 == 0, np.nan, f0)  # unvoiced frames
        fig = plot_explanation(expl, y, pitch={"times": times, "f0_hz": f0, "intensity_db": db}, words=WORDS)
        for label, values in (("F0 Hz", f0), ("dB", db)):
            (ax,) = [a for a in fig.axes if a.get_ylabel() == label]
            drawn = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()])
            drawn = drawn[np.isfinite(drawn)]
            assert np.allclose(np.sort(drawn), np.sort(values[np.isfinite(values)])), (name, label)
            low, high = ax.get_ylim()
            assert low < drawn.min() and drawn.max() < high, (name, label, (low, high), (drawn.min(), drawn.max()))
        plt.close(fig)


@pytest.mark.slow
def test_explain_command_measures_the_voice_at_the_files_rate_and_scores_the_words(tmp_path, capsys):
    sr = 44100
    y = padded_clip(sr)
    sf.write(tmp_path / "c.wav", y, sr, subtype="FLOAT")
    (tmp_path / "c.ctm").write_text("c 1 0.30 0.45 one\nc 1 0.75 0.56 two\n")
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "c.wav"), "--model", "tiny", "--method", "occlusion", "--steps", "4",
                 "--randomisation", "none", "--words", str(tmp_path / "c.ctm"), "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    assert "voice: Praat at 44100 Hz" in screen and "0.60 s digital silence left out" in screen
    assert "words (2, from" in screen and "softmax of the mean of the frame logits" in screen
    d = json.loads((out / "explanation.json").read_text())
    assert d["voice"]["sample_rate_hz"] == sr and [w["label"] for w in d["words"]["items"]] == ["one", "two"]
    # a word's share of the attribution is shown beside the share a flat map gives it, its score with its frames
    # (the screen gave "share of attribution: occlusion 0.41" for a word holding 0.41 of the frames: no concentration)
    for w in d["words"]["items"]:
        line = next(s for s in screen.splitlines() if f" {w['label']} " in s and "share of attribution" in s)
        assert f"(a flat map gives {w['uniform_share']:.2f})" in line and f"({w['n_frames']} frames)" in line
    # each share says whether its map passed its checks, as the map itself says in the same file
    assert d["words"]["methods"]["occlusion"]["reliable"] is (not d["methods"]["occlusion"]["problems"])
    (tmp_path / "c.lab").write_text("one two")
    assert main(["explain", str(tmp_path / "c.wav"), "--model", "tiny", "--words", str(tmp_path / "c.lab"), "--out", str(out)]) == 2
    assert "not known" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_items_words_column_reaches_explanation_json_on_the_segments_clock(tmp_path, tiny_model, capsys):
    from workbench.runs.driver import run

    y = padded_clip()
    sf.write(tmp_path / "long.wav", np.concatenate([y, y]), SR, subtype="FLOAT")  # 4 s: the same clip twice
    (tmp_path / "long.ctm").write_text("long 1 0.40 0.50 first\nlong 1 2.40 0.50 second\nlong 1 3.50 0.30 third\n")
    (tmp_path / "m.csv").write_text("id,path,start,duration,words\nwhole,long.wav,,,long.ctm\nseg,long.wav,2.0,1.4,long.ctm\n")
    run(tmp_path / "m.csv", out_dir=tmp_path / "run", model=tiny_model, workers=0)
    for item, labels, first in (("whole", ["first", "second", "third"], (0.40, 0.90)), ("seg", ["second"], (0.40, 0.90))):
        out = tmp_path / f"ex_{item}"
        assert main(["explain", str(tmp_path / "run"), "--item", item, "--method", "occlusion", "--steps", "4",
                     "--randomisation", "none", "--out", str(out)]) == 0
        screen = capsys.readouterr().out
        d = json.loads((out / "explanation.json").read_text())
        items = d["words"]["items"]
        assert [w["label"] for w in items] == labels and (items[0]["start_s"], items[0]["end_s"]) == pytest.approx(first)
        assert "words column of" in d["words"]["source"] and f"words ({len(labels)}, from words column" in screen
    assert "shifted by -2 s to the segment" in d["words"]["source"] and "left-out spans are named" not in d["words"]["source"]



@pytest.mark.slow
def test_a_segment_shows_only_the_left_out_spans_of_the_file_that_touch_it(tmp_path, tiny_model, capsys):
    """`explain RUN --item SEG` named every left-out span of the file for each of its segments; now those timed within
    (or across) the segment, the untimed ones (they could be anywhere) and a count of the file's others."""
    from workbench.runs.driver import run

    y = padded_clip()
    sf.write(tmp_path / "long.wav", np.concatenate([y, y]), SR, subtype="FLOAT")
    (tmp_path / "long.ctm").write_text("long 1 0.40 0.50 first\nlong 1 0.60 0.00 early\nlong 1 1.00 -0.50 back\n"
                                      "long 1 2.40 0.50 second\nlong 1 2.70 0.00 inside\nlong 1 x 0.50 nowhen\n")
    (tmp_path / "m.csv").write_text("id,path,start,duration,words\nseg,long.wav,2.0,1.4,long.ctm\n")
    run(tmp_path / "m.csv", out_dir=tmp_path / "run", model=tiny_model, workers=0)
    out = tmp_path / "ex"
    assert main(["explain", str(tmp_path / "run"), "--item", "seg", "--method", "occlusion", "--steps", "4",
                 "--randomisation", "none", "--out", str(out)]) == 0
    capsys.readouterr()
    d = json.loads((out / "explanation.json").read_text())
    assert [w["label"] for w in d["words"]["items"]] == ["second"]
    assert sorted(r["text"] for r in d["words"]["left_out"]["spans"]) == ["inside", "nowhen"]
    assert "2 other left-out spans of the file fall outside the segment" in d["words"]["source"]
    # the words are in the segment's clock, the left-out spans in the file's: said, so that 2.700 s is not misread
    assert "the left-out spans are named by the file's lines and times, not the segment's" in d["words"]["source"]
    assert [r["start"] for r in d["words"]["left_out"]["spans"] if r["text"] == "inside"] == [2.7]


def test_a_clip_too_short_for_praat_says_so_in_the_figure_instead_of_failing(explained):
    import matplotlib.pyplot as plt

    from workbench.explain.figure import pitch_track

    short = speech_like(SR, 0.04, seed=1)  # 40 ms: the model scores it, Praat's 50 Hz first pass needs 60 ms
    got = pitch_track(short, SR)
    assert set(got) == {"unavailable"} and "cannot track pitch" in got["unavailable"]
    expl, y, _ = explained
    fig = plot_explanation(expl, y, pitch=got)
    assert any("F0 / intensity unavailable: Praat cannot track pitch" in t.get_text() for a in fig.axes for t in a.texts)
    plt.close(fig)
