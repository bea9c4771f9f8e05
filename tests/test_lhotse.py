"""lhotse manifests in and out, with real lhotse objects, offline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

lhotse = pytest.importorskip("lhotse")

from conftest import speech_like  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.labels import LABEL_KEYS  # noqa: E402
from workbench.data.lhotse_io import import_lhotse  # noqa: E402
from workbench.runs.lhotse_export import export_lhotse  # noqa: E402
from workbench.data.manifest import read_manifest  # noqa: E402
from workbench.runs.folder import RunFolder  # noqa: E402
from workbench.runs.driver import run  # noqa: E402
from workbench.audio.variants import variants_from  # noqa: E402


def _recordings(tmp_path: Path, n: int = 2, dur: float = 3.0):
    recs = []
    for i in range(n):
        p = tmp_path / "audio" / f"rec{i}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, speech_like(16000, dur, seed=i), 16000, subtype="PCM_16")
        recs.append(lhotse.Recording.from_file(p, recording_id=f"rec{i}"))
    return lhotse.RecordingSet.from_recordings(recs)


def _supervisions():
    S = lhotse.SupervisionSegment
    return lhotse.SupervisionSet.from_segments([
        S("rec0-a", "rec0", 0.25, 1.0, speaker="spk0", text="one", language="en", custom={"emotion": "hap", "intensity": "high"}),
        S("rec0-b", "rec0", 1.5, 1.2, speaker="spk0", custom={"emotion": "fru"}),  # IEMOCAP frustrated: no counterpart
        S("rec1-a", "rec1", 0.0, 2.0, speaker="spk1", gender="F", custom={"emotion": "ang"}),
        S("ghost-a", "ghost", 0.0, 1.0, custom={"emotion": "sad"}),  # its recording is missing
    ])


def test_recordings_and_supervisions_become_segment_items(tmp_path):
    recs, sups = _recordings(tmp_path), _supervisions()
    recs.to_file(tmp_path / "recordings.jsonl.gz")
    sups.to_file(tmp_path / "supervisions.jsonl.gz")
    res = import_lhotse(recordings=tmp_path / "recordings.jsonl.gz", supervisions=tmp_path / "supervisions.jsonl.gz",
                        out=tmp_path / "m.csv", label_map="iemocap")
    m = read_manifest(tmp_path / "m.csv")
    assert [it.id for it in m] == ["rec0-a", "rec0-b", "rec1-a"]
    a, b, c = m.items
    assert (a.start, a.duration, b.start, b.duration) == (0.25, 1.0, 1.5, 1.2)
    assert (c.start, c.duration) == (0.0, 2.0)  # rec1 is 3 s long: 0–2 s is a segment
    assert [(it.label, it.emotion) for it in m] == [("hap", "happy"), ("fru", ""), ("ang", "angry")]
    assert a.speaker == "spk0" and a.text == "one" and a.meta["language"] == "en" and a.meta["intensity"] == "high"
    assert c.gender == "F" and a.meta["lhotse"]["recording_id"] == "rec0"
    assert Path(a.path) == (tmp_path / "audio" / "rec0.wav").resolve()
    assert len(res.skipped) == 1 and "ghost" in res.skipped[0]


def test_cuts_keep_the_recording_offsets(tmp_path):
    cuts = lhotse.CutSet.from_manifests(recordings=_recordings(tmp_path), supervisions=_supervisions().filter(lambda s: s.recording_id != "ghost"))
    trimmed = cuts.trim_to_supervisions(keep_overlapping=False)
    trimmed.to_file(tmp_path / "cuts.jsonl.gz")
    m = import_lhotse(cuts=tmp_path / "cuts.jsonl.gz").manifest
    by_id = {it.id: it for it in m}
    assert by_id["rec0-b"].start == pytest.approx(1.5) and by_id["rec0-b"].duration == pytest.approx(1.2)
    assert by_id["rec0-a"].emotion == "happy"
    # a cut without supervisions is one item: the cut's own span
    whole = lhotse.CutSet.from_manifests(recordings=_recordings(tmp_path / "w", n=1))
    (item,) = import_lhotse(cuts=whole).manifest.items
    assert item.start is None and item.duration is None and item.label == ""


def test_memory_sources_are_written_under_hashed_names_and_others_are_skipped(tmp_path):
    recs = _recordings(tmp_path)
    data = (tmp_path / "audio" / "rec0.wav").read_bytes()
    mem = lhotse.Recording(id="mem", sources=[lhotse.audio.AudioSource(type="memory", channels=[0], source=data)],
                           sampling_rate=16000, num_samples=48000, duration=3.0)
    fast = recs["rec1"].perturb_speed(1.1)
    res = import_lhotse(recordings=lhotse.RecordingSet.from_recordings([mem, fast]), out=tmp_path / "out" / "m.jsonl")
    (item,) = res.manifest.items
    written = (tmp_path / "out" / item.path) if not Path(item.path).is_absolute() else Path(item.path)
    assert written.read_bytes() == data and written.parent.name == "m_audio" and written.name.endswith(".wav")
    assert len(res.skipped) == 1 and "transforms" in res.skipped[0]


def test_errors_name_the_input(tmp_path):
    with pytest.raises(ConfigError, match="either recordings"):
        import_lhotse()
    with pytest.raises(ConfigError, match="RecordingSet manifest not found"):
        import_lhotse(recordings=tmp_path / "nope.jsonl.gz")
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(ConfigError, match="is not a lhotse manifest"):
        import_lhotse(recordings=tmp_path / "bad.jsonl")


@pytest.fixture(scope="module")
def lhotse_run(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("lhotse_run")
    recs = _recordings(tmp)
    sups = _supervisions().filter(lambda s: s.recording_id != "ghost")
    recs.to_file(tmp / "recordings.jsonl.gz")
    res = import_lhotse(recordings=recs, supervisions=sups, out=tmp / "m.csv", label_map="iemocap")
    out = run(res.manifest, out_dir=tmp / "run", model=tiny_model, use_cache=False,
              variants=variants_from({"raw": [], "quiet": [{"name": "gain", "db": -6}]}))
    return tmp, out.run_dir, recs


def test_export_writes_supervisions_with_predictions(lhotse_run):
    tmp, run_dir, recs = lhotse_run
    exp = export_lhotse(run_dir)
    assert exp.path == Path(run_dir) / "supervisions.jsonl.gz" and exp.written == 3 and exp.failed == 0 and exp.variant == "raw"
    with gzip.open(exp.path, "rt") as f:
        assert len([json.loads(line) for line in f]) == 3
    sups = lhotse.load_manifest(exp.path)
    assert isinstance(sups, lhotse.SupervisionSet)
    results = RunFolder(run_dir).results()
    raw = results[results["variant"] == "raw"].set_index("id")
    for s in sups:
        row = raw.loc[s.id]
        assert s.custom["predicted_emotion"] == row["pred"] and s.custom["emotion_confidence"] == pytest.approx(row["confidence"])
        assert set(s.custom["emotion_scores"]) == set(LABEL_KEYS) and sum(s.custom["emotion_scores"].values()) == pytest.approx(1, abs=1e-4)
        assert s.custom["random_weights"] is True and s.custom["emotion_variant"] == "raw"
    by_id = {s.id: s for s in sups}
    assert by_id["rec0-b"].recording_id == "rec0" and by_id["rec0-b"].start == pytest.approx(1.5) and by_id["rec0-b"].duration == pytest.approx(1.2)
    assert by_id["rec0-a"].custom["emotion"] == "hap" and by_id["rec0-a"].custom["reference_emotion"] == "happy"
    assert "reference_emotion" not in by_id["rec0-b"].custom  # frustrated: no counterpart
    # the exported supervisions plug back onto the original recordings, and each cut plays exactly what was scored
    cuts = lhotse.CutSet.from_manifests(recordings=recs, supervisions=sups).trim_to_supervisions(keep_overlapping=False)
    rf = RunFolder(run_dir)
    for cut in cuts:
        scored = rf.scored_audio(rf.row(cut.supervisions[0].id, "raw")).samples
        np.testing.assert_allclose(cut.load_audio()[0], scored, atol=1e-6)


def test_export_other_variant_and_errors(lhotse_run, tmp_path, capsys):
    _, run_dir, _ = lhotse_run
    exp = export_lhotse(run_dir, tmp_path / "quiet.jsonl.gz", variant="quiet")
    assert exp.written == 3 and {s.custom["emotion_variant"] for s in lhotse.load_manifest(exp.path)} == {"quiet"}
    with pytest.raises(ConfigError, match=r"variant 'loud' is not in the run; it has \['raw', 'quiet'\]"):
        export_lhotse(run_dir, tmp_path / "x.jsonl.gz", variant="loud")
    with pytest.raises(ConfigError, match="not a lhotse manifest name"):
        export_lhotse(run_dir, tmp_path / "x.csv")
    from workbench.cli import main

    assert main(["datasets", "export-lhotse", str(run_dir), "--out", str(tmp_path / "cli.jsonl.gz")]) == 0
    captured = capsys.readouterr()
    assert "3 supervisions" in captured.out and (tmp_path / "cli.jsonl.gz").is_file() and "deprecated" not in captured.err
    # the old top-level spelling still works for one release, and says so on stderr
    assert main(["export-lhotse", str(run_dir), "--out", str(tmp_path / "old.jsonl.gz")]) == 0
    captured = capsys.readouterr()
    assert "3 supervisions" in captured.out and "`workbench export-lhotse` is deprecated" in captured.err


def test_cli_import_lhotse(tmp_path, capsys):
    from workbench.cli import main

    _recordings(tmp_path).to_file(tmp_path / "r.jsonl.gz")
    _supervisions().to_file(tmp_path / "s.jsonl.gz")
    assert main(["datasets", "import-lhotse", "--recordings", str(tmp_path / "r.jsonl.gz"), "--supervisions", str(tmp_path / "s.jsonl.gz"),
                 "--map", "iemocap", "--out", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "3 items" in out and "1 skipped" in out
    assert f"next: workbench run {tmp_path / 'm.csv'} --out runs/m" in out  # as `manifest` and `datasets prepare` say
    assert len(read_manifest(tmp_path / "m.csv")) == 3
