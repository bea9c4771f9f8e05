"""``workbench similar``: the pair's cosine is placed among the cosines of pairs of different reference clips.

A bare cosine has no scale (the tiny checkpoint gives 0.99 for two unrelated demo sentences), so every result
carries its reference: the clips, the range of their pairs' cosines, the pair's percentile and position."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.analysis.similarity import DEMO_LEFT_OUT, REFERENCE_MIN_PAIRS, place, reference_set, reference_words
from workbench.cli import main
from workbench.data.demoset import DEMO_DATA
from workbench.data.manifest import read_manifest


def clip(path, seed, noise: float = 0.0):
    y = speech_like(16000, 1.5, seed=seed)
    if noise:
        y = y + noise * np.random.default_rng(seed + 99).standard_normal(len(y)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, 16000, subtype="FLOAT")
    return str(path)


def similar_json(capsys, *argv) -> dict:
    assert main(["similar", *argv, "--model", "tiny", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_clip_and_its_noisy_copy_land_above_every_reference_pair(tmp_path, capsys):
    a = clip(tmp_path / "a.wav", seed=1)
    b = clip(tmp_path / "a_noisy.wav", seed=1, noise=1e-4)
    r = similar_json(capsys, a, b)
    ref = r["reference"]
    assert ref["source"].startswith("the shipped demo clips") and ref["clips_scored"] == ref["clips"] == 6
    assert ref["pairs"] == 15 and ref["min"] <= ref["median"] <= ref["max"] < r["cosine"]
    assert ref["position"] == "above" and ref["above_reference"] is True and ref["percentile"] == 100.0
    assert ref["words"].startswith("above all 15 pairs") and "random weights" in ref["words"]
    assert main(["similar", a, b, "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "above all 15 pairs of different reference clips" in out
    assert "reference: the shipped demo clips (6 synthetic sentences), 6 clip(s) scored" in out


def test_two_different_demo_clips_are_placed_among_the_other_pairs_not_their_own(capsys):
    a, b = str(DEMO_DATA / "happy_en_44k.wav"), str(DEMO_DATA / "sad_en.ogg")
    ref = similar_json(capsys, a, b)["reference"]
    # both are in the default reference: the pair itself is left out of it, the other 14 pairs stay
    assert ref["pairs_left_out"] == 1 and ref["pairs"] == 14, ref
    assert ref["position"] in ("above", "within", "below") and 0.0 <= ref["percentile"] <= 100.0
    assert ref["above_reference"] is (ref["position"] == "above")


def test_the_demo_clips_left_out_of_the_reference_exist():
    ids = {it.id for it in read_manifest(DEMO_DATA / "manifest.csv").items}
    assert set(DEMO_LEFT_OUT) <= ids  # a renamed copy would silently count as a different clip
    assert {it.id for it in reference_set().manifest.items} == ids - set(DEMO_LEFT_OUT)


def test_a_reference_folder_too_small_places_nothing(tmp_path, capsys):
    for k in range(3):  # 3 clips: 3 pairs, fewer than the 10 needed
        clip(tmp_path / "ref" / f"r{k}.wav", seed=10 + k)
    a = clip(tmp_path / "a.wav", seed=1)
    r = similar_json(capsys, a, a, "--reference", str(tmp_path / "ref"))
    ref = r["reference"]
    assert ref["pairs"] == 3 and ref["position"] is None and ref["above_reference"] is None and ref["percentile"] is None
    assert ref["words"].startswith("NOT PLACED") and f"fewer than the {REFERENCE_MIN_PAIRS} needed" in ref["words"]
    assert main(["similar", a, a, "--model", "tiny", "--reference", str(tmp_path / "ref")]) == 0
    assert "NOT PLACED" in capsys.readouterr().out


def test_a_reference_manifest_with_a_clip_that_fails_counts_it(tmp_path, capsys):
    rows = ["id,path"] + [f"r{k},{clip(tmp_path / f'r{k}.wav', seed=20 + k)}" for k in range(5)]
    (tmp_path / "broken.wav").write_bytes(b"RIFF not audio at all")
    (tmp_path / "m.csv").write_text("\n".join(rows + [f"bad,{tmp_path / 'broken.wav'}"]) + "\n")
    a = clip(tmp_path / "a.wav", seed=1)
    ref = similar_json(capsys, a, a, "--reference", str(tmp_path / "m.csv"))["reference"]
    assert ref["clips"] == 6 and ref["clips_scored"] == 5 and ref["clips_failed"] == 1 and ref["failed"][0].startswith("bad: ")
    assert ref["pairs"] == 10 and ref["position"] == "above"


@pytest.mark.parametrize("kind", ["missing", "not a manifest", "empty folder", "empty", "one audio file"])
def test_a_bad_reference_is_refused_before_the_model_loads(tmp_path, capsys, kind):
    a = clip(tmp_path / "a.wav", seed=1)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    given, said = {"missing": (str(tmp_path / "nope"), "--reference names no such file or folder."),
                   "not a manifest": (str(tmp_path / "notes.txt"), "--reference cannot be read as a reference set: unknown manifest format"),
                   "empty folder": (str(tmp_path / "empty"), "--reference cannot be read as a reference set: no audio files"),
                   "empty": ("", "--reference is empty."),
                   # one clip was refused as "unknown manifest format '.wav'" with the fix "rename or convert the file"
                   "one audio file": (a, "--reference is one audio file; it takes a set of clips")}[kind]
    assert main(["similar", a, a, "--reference", given, "--model", str(tmp_path / "no_such_checkpoint")]) == 2
    err = capsys.readouterr().err
    assert said in err and "fix:" in err and "checkpoint" not in err and "Traceback" not in err
    assert kind != "one audio file" or "rename or convert" not in err


def test_a_run_folder_as_reference_is_told_to_pass_its_manifest(tmp_path, capsys):
    """`--reference RUN` (a run folder: its embeddings are right there) was refused as "no audio files under this
    folder", with the fix "pass the folder that holds your audio files": now the run's own manifest is named."""
    from test_probe import synthetic_row, write_run

    a = clip(tmp_path / "a.wav", seed=1)
    run = write_run(tmp_path / "run", [synthetic_row("u0")], [[1.0, 0.0]]).path
    assert main(["similar", a, a, "--reference", str(run), "--model", str(tmp_path / "no_such_checkpoint")]) == 2
    err = capsys.readouterr().err
    assert "--reference is a run folder; it takes the clips themselves" in err, err
    assert "fix: pass the run's manifest: --reference " in err and "synthetic.csv" in err, err
    assert "no audio files" not in err and "checkpoint" not in err, err


def test_place_counts_ties_as_half_and_names_the_position():
    pairs = np.linspace(0.80, 0.89, 10)
    assert place(0.95, pairs)["position"] == "above" and place(0.95, pairs)["percentile"] == 100.0
    assert place(0.70, pairs)["position"] == "below" and place(0.70, pairs)["percentile"] == 0.0
    mid = place(float(pairs[4]), pairs)
    assert mid["position"] == "within" and mid["above_reference"] is False and mid["percentile"] == pytest.approx(45.0)
    assert place(0.95, pairs[:REFERENCE_MIN_PAIRS - 1])["position"] is None
    assert place(float("nan"), pairs)["above_reference"] is None


def test_a_cosine_within_the_range_is_said_in_words_both_ways():
    # a cosine at percentile 29 was given its number only: "the cosine does not show the two files are more alike"
    # said nothing of it being lower than most pairs of different clips, while above all and below all had words
    pairs = np.linspace(0.80, 0.89, 10)
    low = place(0.815, pairs)
    assert (low["pairs_less_alike"], low["pairs_more_alike"]) == (2, 8)
    words = reference_words({**low, "pairs": 10}, random_weights=False)
    assert words.startswith("WITHIN THE RANGE") and "at percentile 20" in words
    assert "less alike than most pairs of different reference clips (2 of the 10 pairs are less alike, 8 more alike)" in words
    high = reference_words(place(0.875, pairs), random_weights=False)
    assert "more alike than most pairs of different reference clips, not than all (8 of the 10 pairs are less alike, 2 more alike)" in high
    assert "does not show the two files are more alike than two different clips" in high
    middle = reference_words(place(0.845, pairs), random_weights=False)
    assert "about as alike as a typical pair" in middle and "less alike than most" not in middle
    # percentile 47 of 15 pairs (7 less alike, 8 more): a bare majority is no "less alike than most pairs"
    pairs15 = np.linspace(0.80, 0.94, 15)
    near = place(0.8625, pairs15)
    assert (near["pairs_less_alike"], near["pairs_more_alike"], round(near["percentile"])) == (7, 8, 47)
    words = reference_words(near, random_weights=False)
    assert "about as alike as a typical pair of different reference clips (7 of the 15 pairs are less alike, 8 more alike)" in words
    assert "less alike than most" not in words and "more alike than most" not in words
    assert "below all" in reference_words(place(0.5, pairs), random_weights=False)


def test_the_reference_clips_are_scored_once_per_checkpoint_through_the_prediction_cache(tmp_path, capsys):
    # every call scored the whole reference set again (5.4 s of a 7.9 s call with the tiny float32 checkpoint)
    a, b = str(DEMO_DATA / "happy_en_44k.wav"), str(DEMO_DATA / "sad_en.ogg")
    cache = tmp_path / "cache"
    first = similar_json(capsys, a, b, "--cache-dir", str(cache))
    entries = sorted(cache.rglob("*.npz"))
    assert first["reference"]["clips_from_cache"] == 0 and len(entries) == first["reference"]["clips_scored"] == 6
    second = similar_json(capsys, a, b, "--cache-dir", str(cache))
    assert second["reference"]["clips_from_cache"] == 6 and sorted(cache.rglob("*.npz")) == entries
    assert second == {**first, "reference": {**first["reference"], "clips_from_cache": 6}}  # the same figures, read back
    assert main(["similar", a, b, "--model", "tiny", "--cache-dir", str(cache)]) == 0
    assert "6 clip(s) scored (6 from the prediction cache)" in capsys.readouterr().out
    # --no-cache neither reads nor writes it
    other = tmp_path / "other"
    off = similar_json(capsys, a, b, "--cache-dir", str(other), "--no-cache")
    assert off["reference"]["clips_from_cache"] == 0 and not other.exists()
    assert off["reference"]["percentile"] == first["reference"]["percentile"]


def test_pairs_left_out_of_the_reference_are_said_on_the_screen_and_in_the_notes(tmp_path, capsys):
    # the screen said "14 pairs of different reference clips" where the same reference had given 15, with no word of
    # the pair left out; a reference holding one clip twice lost a pair as silently
    a, b = str(DEMO_DATA / "happy_en_44k.wav"), str(DEMO_DATA / "sad_en.ogg")
    assert main(["similar", a, b, "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    # which pair and why, in words a newcomer follows ("1 pair(s) of the two files themselves, which are reference clips")
    assert "14 pairs" in out and ("left out 1 reference pair(s): the pair being compared (happy_en_44k.wav and sad_en.ogg are "
                                  "both reference clips: their cosine would be placed among its own value)") in out, out
    ref_dir = tmp_path / "ref"
    for i in range(5):
        clip(ref_dir / f"r{i}.wav", seed=10 + i)
    clip(ref_dir / "r0_copy.wav", seed=10)
    ref = similar_json(capsys, a, b, "--reference", str(ref_dir))["reference"]
    assert ref["pairs_left_out"] == 1 and ref["pairs"] == 14, ref
    assert "left out 1 reference pair(s): 1 pair(s) of two clips with the same content (not different clips)" in ref["notes"]


def test_the_precision_that_scored_the_pair_and_the_reference_is_said(tmp_path, capsys):
    # the cosine moves with the precision (bfloat16 embeddings differ), and --dtype auto chooses one: neither the screen
    # nor --json said which precision had scored the pair and the reference
    a, b = clip(tmp_path / "a.wav", seed=1), clip(tmp_path / "b.wav", seed=2)
    r = similar_json(capsys, a, b, "--dtype", "bfloat16")
    assert r["dtype"] == "bfloat16" and len(r["checksum"]) == 64
    assert main(["similar", a, b, "--model", "tiny", "--dtype", "float32"]) == 0
    assert "model: random-tiny (float32), for the pair and the reference alike" in capsys.readouterr().out


def test_a_file_without_sound_is_named_before_the_cosine(tmp_path, capsys):
    # digital silence against a sentence gave "cosine similarity 0.8067: below all 15 pairs …" without a word that one
    # of the two files holds no sound at all, so the cosine compares nothing
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, np.float32), 16000)
    b = str(DEMO_DATA / "sad_en.ogg")
    assert main(["similar", str(silent), b, "--model", "tiny", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    warned = [line for line in out.splitlines() if line.startswith("!! ") and "digital silence" in line]
    assert len(warned) == 1 and "silent.wav" in warned[0] and out.index(warned[0]) < out.index("cosine similarity")
    r = similar_json(capsys, str(silent), b, "--dtype", "float32")
    assert len(r["errors"]) == 1 and "digital silence" in r["errors"][0]
    assert similar_json(capsys, b, str(DEMO_DATA / "angry_en_48k_stereo.flac"), "--dtype", "float32")["errors"] == []


def test_a_reference_clip_without_sound_is_left_out_and_named(tmp_path, capsys):
    # a folder holding digital silence and a DC-only clip used both as reference clips without a word: their embeddings
    # say nothing about speech, yet their 11 pairs stood among the "pairs of different reference clips"
    ref_dir = tmp_path / "ref"
    for k in range(5):
        clip(ref_dir / f"r{k}.wav", seed=10 + k)
    sf.write(ref_dir / "zeros.wav", np.zeros(24000, np.float32), 16000)
    sf.write(ref_dir / "offset.wav", np.full(24000, 0.3, np.float32), 16000, subtype="FLOAT")
    a, b = clip(tmp_path / "a.wav", seed=1), clip(tmp_path / "b.wav", seed=2)
    ref = similar_json(capsys, a, b, "--reference", str(ref_dir), "--no-cache")["reference"]
    assert ref["clips"] == 7 and ref["clips_silent"] == 2 and sorted(ref["silent"]) == ["offset", "zeros"]
    assert ref["clips_scored"] == 5 and ref["pairs"] == 10 and ref["pairs_left_out"] == 0, ref
    note = [n for n in ref["notes"] if "without sound" in n]
    assert len(note) == 1 and note[0].startswith("left out 2 reference clip(s) without sound") and "offset" in note[0]
    assert main(["similar", a, b, "--model", "tiny", "--reference", str(ref_dir), "--no-cache"]) == 0
    assert "5 clip(s) scored; left out 2 reference clip(s) without sound" in capsys.readouterr().out


def test_reference_links_to_files_outside_the_folder_are_read_and_said(tmp_path, capsys):
    # a reference folder of links into another corpus was read through them without a word: the clips scored were not
    # the folder's own; they are still read (symlinked corpora are common), and the notes say how many and where
    ref_dir, away = tmp_path / "ref", tmp_path / "elsewhere"
    for k in range(3):
        clip(ref_dir / f"r{k}.wav", seed=10 + k)
    far = clip(away / "far.wav", seed=13)
    odd = clip(away / "we\nird.wav", seed=14)
    (ref_dir / "l1.wav").symlink_to(far)
    (ref_dir / "l2.wav").symlink_to("../elsewhere/we\nird.wav")
    (ref_dir / "inside.wav").symlink_to(ref_dir / "r0.wav")  # a link within the folder is the folder's own clip
    a, b = clip(tmp_path / "a.wav", seed=1), clip(tmp_path / "b.wav", seed=2)
    ref = similar_json(capsys, a, b, "--reference", str(ref_dir), "--no-cache")["reference"]
    assert ref["clips_scored"] == 6, ref
    note = [n for n in ref["notes"] if "outside the folder" in n]
    assert len(note) == 1 and note[0].startswith("2 file(s) are links to files outside the folder, read where they point"), ref["notes"]
    assert f"l1.wav -> {far}" in note[0] and "l2.wav -> " + odd.replace("\n", "\\n") in note[0] and "inside" not in note[0]
    assert main(["similar", a, b, "--model", "tiny", "--reference", str(ref_dir), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "2 file(s) are links to files outside the folder" in out and "we\nird" not in out


def test_a_reference_manifests_clips_that_are_no_readable_files_are_left_out_and_named(tmp_path, capsys):
    """A URL, a FIFO, a device or a missing path in a --reference manifest refused the whole reference, calling each a
    "missing file" with the fix `--skip-missing to workbench run` (an option `similar` has not).  Now each is left out
    before anything opens it (a FIFO would block the reader) and named; absolute and `..` paths are the user's own
    files, read as `run` reads them."""
    import os

    ref = tmp_path / "ref"
    rows = ["id,path"] + [f"r{k},r{k}.wav" for k in range(3)] + [
        f"abs,{clip(tmp_path / 'elsewhere' / 'abs.wav', seed=33)}", f"up,../up/up.wav",
        "url,https://example.invalid/x.wav", "fifo,pipe.wav", "dev,/dev/zero", "gone,gone.wav"]
    for k in range(3):
        clip(ref / f"r{k}.wav", seed=30 + k)
    clip(tmp_path / "up" / "up.wav", seed=34)
    os.mkfifo(ref / "pipe.wav")
    (ref / "m.csv").write_text("\n".join(rows) + "\n")
    a = clip(tmp_path / "a.wav", seed=1)
    r = similar_json(capsys, a, a, "--reference", str(ref / "m.csv"))["reference"]
    assert r["clips"] == 5 and r["clips_scored"] == 5 and r["pairs"] == 10
    note = next(n for n in r["notes"] if n.startswith("left out 4 clip(s) of the manifest that are not readable files"))
    assert "https://example.invalid/x.wav (a URL: clips are read from local files only" in note
    assert "pipe.wav (not a regular file" in note and "/dev/zero (not a regular file" in note and "gone.wav" in note


def test_a_left_out_reference_clip_is_named_by_a_bounded_path(tmp_path):
    """Six URLs of 9,900 characters (a manifest field holds up to 10,000) made the reference line on the screen 50 KB
    long: each left-out clip is now named by the start of its path and its length, and the reason stays."""
    from workbench.analysis.similarity import reference_set

    rows = ["id,path"] + [f"u{k},https://example.invalid/{'a' * 9_900}{k}.wav" for k in range(6)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    note = next(n for n in reference_set(str(tmp_path / "m.csv")).notes if n.startswith("left out"))
    assert len(note) < 2_000, len(note)
    assert "left out 6 clip(s)" in note and "a URL" in note and "9,929 characters" in note


def test_links_outside_a_folder_are_named_by_bounded_paths(tmp_path):
    """The note named each of five link targets whole: paths of ~3,000 characters (PATH_MAX is 4,096) made it 15 KB."""
    import os

    from workbench.data.corpora.folder import prepare_folder

    deep = tmp_path.joinpath(*["d" * 240] * 12)
    deep.mkdir(parents=True)
    (deep / "x.wav").write_bytes(b"RIFF")
    (tmp_path / "f").mkdir()
    for k in range(6):
        os.symlink(deep / "x.wav", tmp_path / "f" / f"l{k}.wav")
    note = next(n for n in prepare_folder(tmp_path / "f").notes if "outside the folder" in n)
    assert note.startswith("6 file(s) are links to files outside the folder") and len(note) < 2_000, len(note)
