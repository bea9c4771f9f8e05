"""The demo set: enough speakers, classes, transcripts and a long file for every notebook and report."""

from __future__ import annotations

import csv
import hashlib

import soundfile as sf


def _rows(folder):
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_demo_set_has_speakers_classes_texts_and_a_long_file(tmp_path):
    from workbench.data.demoset import LONG_FILE, demo_set
    from workbench.data.manifest import read_manifest

    folder = demo_set(tmp_path)
    rows = _rows(folder)
    labelled = [r for r in rows if r["label"] and r["text"] and r["speaker"]]
    assert len({r["speaker"] for r in labelled}) >= 4
    assert len({r["label"] for r in labelled}) >= 4
    # every generated speaker says every class (speaker-independent folds keep every class)
    gen = [r for r in labelled if r["speaker"].startswith("spk_")]
    assert {(r["speaker"], r["label"]) for r in gen} == {(s, c) for s in {r["speaker"] for r in gen} for c in {r["label"] for r in gen}}
    info = sf.info(folder / LONG_FILE)
    assert info.duration > 30 and info.samplerate == 16000
    turns = [r for r in rows if r["path"] == LONG_FILE]
    assert len(turns) >= 8 and all(float(r["start"]) + float(r["duration"]) <= info.duration for r in turns)
    # the workbench's own reader accepts it, files and segments included
    m = read_manifest(folder / "manifest.csv")
    assert len(m) == len(rows)


def test_demo_set_is_deterministic_and_reused(tmp_path):
    from workbench.data.demoset import demo_set

    a, b = demo_set(tmp_path / "a"), demo_set(tmp_path / "b")
    digest = lambda folder: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.wav")}  # noqa: E731
    assert digest(a) == digest(b) and len(digest(a)) > 30
    stamp = (a / "manifest.csv").stat().st_mtime_ns
    assert demo_set(tmp_path / "a") == a and (a / "manifest.csv").stat().st_mtime_ns == stamp  # made once
