"""Widgets driven as a user drives them: set values, click, read what is shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, speech_like
from workbench.labels import LABEL_KEYS
from workbench.runs.longform import SegmentConfig, segment_file
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.runs.folder import RunFolder
from workbench.runs.driver import Variant, run

pytest.importorskip("ipywidgets")
from workbench.views.widgets import (  # noqa: E402
    REPREDICTION_TOLERANCE,
    ConfusionExplorer,
    EmbeddingMap,
    LongAudioTimeline,
    LowConfidenceBrowser,
    SampleRateExplorer,
    TrimmingInspector,
    VariantDiff,
    player_samples,
)

LABELS = ["happy", "sad", "angry", "neutral"]
VARIANTS = [Variant("raw"), Variant("telephone", ({"name": "telephone"},)), Variant("trim", ({"name": "trim", "top_db": 15},)),
            Variant("sr8k", ({"name": "resample", "sr": 8000},))]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model):
    """Ten clips at 16/44.1/8 kHz, a broken file, and a segment (start/duration) of a longer clip, under four variants."""
    root = tmp_path_factory.mktemp("widgets")
    items = []
    for i in range(10):
        p = root / "audio" / f"c{i:03d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sr = [16000, 44100, 8000][i % 3]
        y = speech_like(sr, 1.0 + 0.25 * (i % 5), seed=i, onset=0.2 * (i % 2))
        sf.write(p, y, sr, subtype="PCM_16")
        items.append(Item(id=f"c{i:03d}", path=f"audio/c{i:03d}.wav", label=LABELS[i % 4], emotion=LABELS[i % 4], speaker=f"s{i % 3}"))
    long = np.concatenate([speech_like(44100, 1.0, seed=20), np.zeros(4410, np.float32), speech_like(44100, 1.5, seed=21)])
    sf.write(root / "audio" / "long.wav", long, 44100, subtype="PCM_16")
    items.append(Item(id="seg1", path="audio/long.wav", label="sad", emotion="sad", speaker="s1", start=1.1, duration=1.2))
    (root / "audio" / "broken.wav").write_text("not audio")
    items.append(Item(id="broken", path="audio/broken.wav", label="happy", emotion="happy", speaker="s0"))
    manifest = write_manifest(Manifest(items, root=root), root / "manifest.csv")
    run(manifest, out_dir=root / "run", model=tiny_model, variants=VARIANTS, cache_dir=root / "cache")
    return root / "run"


def _assert_shows_row(shown: dict, player_widget, rf: RunFolder, item_id: str, variant: str):
    """The view's audio is the row's scored audio, sample for sample, in the player too; its scores are the row's."""
    row = rf.row(item_id, variant)
    want = rf.scored_audio(row)
    assert shown["row"]["id"] == item_id and shown["row"]["variant"] == variant
    assert shown["audio"].sr == want.sr == 16000
    np.testing.assert_array_equal(shown["audio"].samples, want.samples)
    y, sr = player_samples(player_widget)
    assert sr == want.sr
    np.testing.assert_array_equal(y, want.samples.astype(np.float32))
    np.testing.assert_array_equal(shown["scores"], [float(row[f"score_{k}"]) for k in LABEL_KEYS])
    return want


@pytest.mark.parametrize("variant", [v.name for v in VARIANTS])
def test_browser_shows_the_audio_and_scores_of_the_rows_variant(run_dir, tiny_model, variant):
    rf = RunFolder.open(run_dir)
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    raw = {}
    for item_id in ("c001", "seg1"):  # a 44.1 kHz file (resampled by every chain) and a segment of a longer one
        w.select(item_id, variant)
        assert w.table.value == (item_id, variant)
        want = _assert_shows_row(w.shown, w.audio.children[0], rf, item_id, variant)
        # the frame heatmap is a re-prediction of exactly this audio: it gives the row's scores
        assert w.shown["gap"] <= REPREDICTION_TOLERANCE
        np.testing.assert_allclose(w.shown["repredicted"], w.shown["scores"], atol=REPREDICTION_TOLERANCE)
        assert len(w.shown["frame_scores"]) == pytest.approx(want.duration * 50, abs=2)
        row = rf.row(item_id, variant)
        assert f"<h4>{item_id} [{variant}]</h4>" in w.detail.value and f"({row['confidence']:.3f}" in w.detail.value
        assert f"disgusted {row['score_disgusted']:.4f}" in w.detail.value and "match the row" in w.detail.value
        raw[item_id] = rf.scored_audio(rf.row(item_id, "raw")).samples
    seg = w.shown
    assert "segment 1.10–2.30 s" in w.detail.value
    assert seg["audio"].duration == pytest.approx(1.2, abs=0.01) if variant != "trim" else seg["audio"].duration <= 1.21
    if variant != "raw":  # a chain's audio is not the raw audio (the defect this guards against)
        assert len(seg["audio"].samples) != len(raw["seg1"]) or not np.allclose(seg["audio"].samples, raw["seg1"])


def test_browser_says_when_a_reprediction_disagrees_with_the_row(run_dir, tiny_model):
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    w.select("c003", "telephone")
    assert w.shown["gap"] <= REPREDICTION_TOLERANCE
    # a different model re-predicts other scores: the view says so and still shows the stored ones
    other_w = LowConfidenceBrowser(run_dir, model=tiny_model)
    other_w._net = _Shifted(tiny_model)
    other_w.select("c003", "telephone")
    assert other_w.shown["gap"] > REPREDICTION_TOLERANCE and "differs from the stored scores" in other_w.detail.value
    np.testing.assert_array_equal(other_w.shown["scores"], w.shown["scores"])


class _Shifted:
    """The real model with its input scaled: a stand-in for 'another checkpoint' that changes the scores."""

    def __init__(self, net):
        self.net = net

    def __getattr__(self, name):  # info, random_weights …: the real model's
        return getattr(self.net, name)

    def predict(self, clips, **kw):
        return self.net.predict([c.with_samples(np.roll(c.samples, 4000)) for c in clips], **kw)


def test_browser_shows_a_spinner_while_an_item_opens(run_dir, tiny_model):
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    seen = []
    w.status.observe(lambda ch: seen.append(ch["new"]), names="value")
    w.select("c002", "trim")
    assert any("working… opening c002 [trim]" in v and "wb-spinner" in v for v in seen)
    assert w.status.value == ""  # cleared when done


def test_browser_refuses_audio_that_changed_since_the_run_and_says_so(tmp_path, tiny_model):
    for i in range(2):
        sf.write(tmp_path / f"a{i}.wav", speech_like(16000, 1.2, seed=i), 16000, subtype="PCM_16")
    manifest = write_manifest(Manifest([Item(id=f"a{i}", path=f"a{i}.wav", emotion="sad") for i in range(2)], root=tmp_path),
                              tmp_path / "m.csv")
    run(manifest, out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache")
    sf.write(tmp_path / "a1.wav", speech_like(16000, 1.2, seed=9), 16000, subtype="PCM_16")  # replaced after the run
    w = LowConfidenceBrowser(tmp_path / "run", model=tiny_model)
    w.select("a0", "raw")
    assert w.error is None and w.shown["row"]["id"] == "a0"
    w.select("a1", "raw")
    assert "opening a1 [raw] failed" in w.status.value and "changed since it was scored" in w.status.value
    assert w.error is not None and w.shown["row"]["id"] == "a0"  # nothing of a1's new audio is shown as if it were scored


def test_low_confidence_browser_filters_and_opens_an_item(run_dir, tiny_model):
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    res = pd.read_parquet(run_dir / "results.parquet")
    ok = res[res["status"] == "ok"]
    for thr in (0.0, float(ok["confidence"].median()), 1.0):
        w.threshold.value = thr
        assert len(w.table.options) == int((ok["confidence"] < thr).sum())
        assert f"<b>{len(w.table.options)}</b> of {len(ok)} items" in w.count.value
    w.variant.value = "telephone"
    assert {v for _, (_, v) in w.table.options} == {"telephone"}
    assert w.table.value is None and w.shown == {}  # a new list opens nothing (opening an item takes seconds)
    w.true_label.value = "sad"
    assert all("true=sad" in label for label, _ in w.table.options)
    key = w.table.options[0][1]
    w.table.value = key
    assert f"<h4>{key[0]} [telephone]</h4>" in w.detail.value and "nearest neighbours" in w.detail.value
    # the neighbours' cosines beside the item's cosines with the whole run, as the screen gives them
    n_other = int((ok["variant"] == "telephone").sum()) - 1
    assert f"its cosine with each of the run's {n_other} other items: median" in w.detail.value
    w.speaker.value = str(w.shown["row"]["speaker"])  # the open item is still listed: it stays selected and shown
    assert w.table.value == key and w.shown["row"]["id"] == key[0]
    assert len(w.audio.children) == 1 and len(w.figure.children) == 1
    assert w.detail.value.count("<li>") >= 5  # neighbours listed


def test_confusion_explorer_opens_the_item_of_its_variant(run_dir, tiny_model):
    rf = RunFolder.open(run_dir)
    w = ConfusionExplorer(run_dir, variant="telephone", model=tiny_model)
    res = pd.read_parquet(run_dir / "results.parquet")
    ok = res[(res["status"] == "ok") & (res["variant"] == "telephone") & (res["emotion"] != "")]
    (t, p), button = max(w.cells.items(), key=lambda kv: int(kv[1].description))
    assert int(button.description) == int(((ok["emotion"] == t) & (ok["pred"] == p)).sum())
    button.click()
    assert len(w.items.options) == int(button.description) and f"true <b>{t}</b> predicted <b>{p}</b>" in w.caption.value
    w.open_button.click()
    assert w.browser is not None and w.browser.table.value == (w.items.value, "telephone")
    assert f"<h4>{w.items.value} [telephone]</h4>" in w.browser.detail.value
    _assert_shows_row(w.browser.shown, w.browser.audio.children[0], rf, w.items.value, "telephone")


def test_variant_diff_plays_each_sides_scored_audio(run_dir):
    rf = RunFolder.open(run_dir)
    w = VariantDiff(run_dir, "raw", "sr8k")
    assert "sr8k vs raw" in w.summary.value
    assert len(w.flips.options) == w.comparison.n_flips
    # every paired item, flipped or not, can be shown: drive show() for a segment item and a resampled one
    w.table = pd.concat([w.table, pd.DataFrame([{"id": i, "emotion": "", "pred_baseline": "x", "pred_variant": "y", "confidence_baseline": 0.0,
                                                 "confidence_variant": 0.0, "findings_baseline": "", "findings_variant": ""}
                                                for i in ("seg1", "c001")])], ignore_index=True)
    for item_id in ("seg1", "c001"):
        w.show(item_id)
        assert len(w.players.children) == 2
        for side, box in zip(("raw", "sr8k"), w.players.children):
            _assert_shows_row(w.shown[side], box.children[1], rf, item_id, side)
            assert f"{rf.row(item_id, side)['confidence']:.3f}" in box.children[0].value
        assert not np.array_equal(w.shown["raw"]["audio"].samples, w.shown["sr8k"]["audio"].samples)
    w.b.value = "raw"
    assert list(w.flips.options) == [] and "two different" in w.summary.value


def test_variant_diff_shows_each_failed_check_on_a_line_of_its_own(run_dir):
    """Notebook 04 on a random-weights run: "… confidence shift mean +0.008 … !! ΔWA: zero-width interval … !! ΔUAR: …"
    ran on in one paragraph; the confusion explorer beside it shows each check as a bold ⚠ line."""
    w = VariantDiff(run_dir, "raw", "telephone")
    flags = w.comparison.interval_flags()
    assert flags, "the case: the comparison has a failed check"
    assert "!!" not in w.summary.value and w.summary.value.count("<p><b>⚠ ") == len(set(flags.values())), w.summary.value  # one line per note (walk18)


def test_embedding_map_click_opens_the_item(run_dir, tiny_model):
    from plotly.callbacks import InputDeviceState, Points

    rf = RunFolder.open(run_dir)
    w = EmbeddingMap(run_dir, variant="trim", model=tiny_model)
    n = sum(len(t.x) for t in w.plot.data)
    assert n == int(((rf.results()["variant"] == "trim") & (rf.results()["status"] == "ok")).sum())
    trace = w.plot.data[-1]
    k = len(trace.x) - 1
    assert trace._click_callbacks, "the trace has no click handler"
    points = Points(point_inds=[k], xs=[trace.x[k]], ys=[trace.y[k]], trace_name=trace.name, trace_index=len(w.plot.data) - 1)
    for cb in trace._click_callbacks:  # what FigureWidget does when the browser reports a click
        cb(trace, points, InputDeviceState())
    item_id = str(w.emb.rows["id"].iloc[w.groups[-1][k]])
    assert w.opened == (item_id, "trim") and w.browser.table.value == (item_id, "trim")
    assert trace.text[k].startswith(item_id + ":")
    _assert_shows_row(w.browser.shown, w.browser.audio.children[0], rf, item_id, "trim")


def test_embedding_map_names_the_items_without_a_value(run_dir, tiny_model):
    """The map's legend listed items with no value in the colouring column as "— (10)", as the CLI's figure did."""
    w = EmbeddingMap(run_dir, variant="raw", color_by="gender", model=tiny_model)  # the manifest gives no gender
    assert [t.name for t in w.plot.data] == ["no gender (11)"]  # ten clips and the segment; the broken file failed


def test_trimming_inspector_shows_what_trim_removed(tmp_path):
    y = np.concatenate([np.zeros(8000, np.float32), speech_like(16000, 1.5, seed=2), np.zeros(4000, np.float32)])
    sf.write(tmp_path / "c.wav", y, 16000, subtype="PCM_16")
    w = TrimmingInspector(tmp_path / "c.wav")
    assert w.chain.value == "trim top_db=30"
    # the 0.5 s / 0.25 s of silence (to within a trim frame), and at most one 4 Hz syllable gap more
    assert 0.45 <= w.cut["start_s"] <= 0.8 and 0.15 <= w.cut["end_s"] <= 0.55
    assert f"{w.cut['start_samples']} samples) at start" in w.summary.value
    assert len(w.players.children) == 2 and len(w.figure.children) == 1
    # what the trim removed was digital silence (and a syllable gap's noise): not a cut onset (issue 21)
    assert "onset_cut" not in w.findings.value
    w.chain.value = "intake only"
    assert w.cut == {"start_s": 0.0, "end_s": 0.0, "start_samples": 0, "end_samples": 0}
    assert "cut</b> 0 ms (0 samples) at start" in w.summary.value and "onset_cut" not in w.findings.value


def test_trimming_inspector_findings_follow_the_audio_shown():
    """A trim that cuts nothing at the start leaves the onset as it was: the same onset finding as the intake."""
    w = TrimmingInspector(REPO / "workbench" / "demo_data" / "happy_zh_onset0.wav")
    w.chain.value = "intake only"
    assert "speech_at_sample_0" in w.findings.value
    w.chain.value = "trim top_db=30"
    assert w.cut["start_samples"] == 0 and w.cut["end_samples"] > 0  # only the tail was trimmed
    np.testing.assert_array_equal(w.processed.samples[:400], w.source.samples[:400])  # the same first 25 ms
    codes = [f["code"] for f in w.found]
    assert "speech_at_sample_0" in codes and "speech_at_sample_0" in w.findings.value
    assert "findings of the trim top_db=30 audio" in w.findings.value
    # the findings are of the processed audio: its duration, not the intake's, decides duration findings
    w.chain.value = "telephone"
    assert w.processed.sr == w.source.sr and not np.array_equal(w.processed.samples, w.source.samples)


def test_sample_rate_explorer_reports_the_scores_and_label_change(tiny_model):
    w = SampleRateExplorer(REPO / "workbench" / "demo_data" / "happy_en_44k.wav", model=tiny_model)
    assert "RANDOM WEIGHTS" in w.widget.children[0].value
    pa, pb = w.predictions
    assert "8000 Hz / soxr" in w.result.value and f"{pb.confidence:.3f}" in w.result.value
    w.rate.value = 44100
    w.telephone.value = True
    w.run_button.click()
    pa2, pb2 = w.predictions
    assert "44100 Hz / soxr / telephone" in w.result.value
    assert np.allclose(pa.scores, pa2.scores) and not np.allclose(pb.scores, pb2.scores)
    assert ("top label changed" in w.result.value) == (pa2.label != pb2.label)


@pytest.fixture(scope="module")
def long_segments(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("long")
    y = np.zeros(16000 * 8, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=1)
    y[16000 * 5:16000 * 7] = speech_like(16000, 2.0, seed=2)
    sf.write(d / "long.wav", y, 16000, subtype="PCM_16")
    segment_file(d / "long.wav", model=tiny_model, out_dir=d / "seg", config=SegmentConfig(vad="energy"))
    return d


def test_long_audio_timeline_plays_a_span(long_segments):
    w = LongAudioTimeline(long_segments / "seg")
    assert len(w.spans.options) == len(w.timeline) >= 1 and len(w.figure.children) == 1
    w.spans.value = len(w.timeline) - 1
    w.play_button.click()
    seg, sr = w.current
    r = w.timeline.iloc[-1]
    assert sr == 16000 and abs(len(seg) / sr - (r["end"] - r["start"])) < 0.01
    assert len(w.player.children) == 1 and "RANDOM WEIGHTS" in w.widget.children[0].value


def test_long_audio_timeline_click_plays_that_span(long_segments):
    from plotly.callbacks import InputDeviceState, Points

    w = LongAudioTimeline(long_segments / "seg")
    y_all, sr_all = sf.read(long_segments / "long.wav", dtype="float32")
    assert w.span_trace._click_callbacks and w.heat_trace._click_callbacks
    last = len(w.timeline) - 1
    r = w.timeline.iloc[last]
    w.span_trace._dispatch_on_click(Points(point_inds=[last], xs=[r["end"] - r["start"]], ys=["spans"], trace_index=1), InputDeviceState())
    assert w.current_span == last and w.spans.value == last
    y, sr = player_samples(w.player.children[0])
    a = int(r["start"] * sr_all)
    np.testing.assert_array_equal(y, y_all[a: a + int((r["end"] - r["start"]) * sr_all)])
    assert f"span {last}: {r['start']:.2f}–{r['end']:.2f} s" in w.now.value
    # a click on the heatmap inside the first span plays the first span
    r0 = w.timeline.iloc[0]
    t = (r0["start"] + r0["end"]) / 2
    for cb in w.heat_trace._click_callbacks:
        cb(w.heat_trace, Points(point_inds=[[0, 0]], xs=[t], ys=["happy"], trace_index=0), InputDeviceState())
    assert w.current_span == 0
    y, _ = player_samples(w.player.children[0])
    a = int(r0["start"] * sr_all)
    np.testing.assert_array_equal(y, y_all[a: a + int((r0["end"] - r0["start"]) * sr_all)])
    # outside every span: nothing plays, and the view says why
    for cb in w.heat_trace._click_callbacks:
        cb(w.heat_trace, Points(point_inds=[[0, 0]], xs=[0.1], ys=["happy"], trace_index=0), InputDeviceState())
    assert "in no span" in w.now.value and w.current_span == 0


def test_confusion_explorer_switches_variant(run_dir):
    # issue #20: the explorer showed the first variant only, with no way to pick another
    w = ConfusionExplorer(run_dir)
    res = pd.read_parquet(run_dir / "results.parquet")
    assert w.variant == res["variant"].iloc[0] and "telephone" in w.variant_select.options
    w.variant_select.value = "telephone"
    ok = res[(res["status"] == "ok") & (res["variant"] == "telephone") & (res["emotion"] != "")]
    assert w.variant == "telephone" and "confusion (telephone)" in w.heading.value
    for (t, p), button in w.cells.items():
        assert int(button.description) == int(((ok["emotion"] == t) & (ok["pred"] == p)).sum())


def test_variant_diff_hides_the_empty_list(run_dir):
    w = VariantDiff(run_dir, "raw", "raw")
    assert w.flips.layout.display == "none"
    w.b.value = "sr8k"
    assert w.flips.layout.display == ("" if w.comparison.n_flips else "none")
    if not w.comparison.n_flips:
        assert "no item changed its label" in w.summary.value


def test_listener_errors_browser_lists_what_listeners_agree_on_and_opens_it(tmp_path, tiny_model):
    from workbench.data.listeners import attach, records_from_manifest
    from workbench.views.widgets import ListenerErrorsBrowser

    items = []
    for i in range(3):
        sf.write(tmp_path / f"a{i}.wav", speech_like(16000, 1.2, seed=i), 16000, subtype="PCM_16")
        items.append(Item(id=f"a{i}", path=f"a{i}.wav", emotion="sad"))
    first = run(write_manifest(Manifest(items, root=tmp_path), tmp_path / "m0.csv"), out_dir=tmp_path / "run0", model=tiny_model,
                cache_dir=tmp_path / "cache")
    pred = pd.read_parquet(first.run_dir / "results.parquet").set_index("id")["pred"]
    other = {k: next(x for x in ("angry", "happy") if x != k) for k in LABEL_KEYS}
    # a0: all five listeners hear something the model did not say; a1: they hear what it said; a2: 3 of 5 against it
    votes = {"a0": [other[pred["a0"]]] * 5, "a1": [pred["a1"]] * 5, "a2": [other[pred["a2"]]] * 3 + [pred["a2"]] * 2}
    for it in items:
        it.meta["rater_labels"] = ";".join(votes[it.id])
    m = Manifest(items, root=tmp_path)
    attach(m, records_from_manifest(m))
    second = run(write_manifest(m, tmp_path / "m.csv"), out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache")
    w = ListenerErrorsBrowser(second.run_dir, model=tiny_model)
    assert [v for _, v in w.items.options] == ["a0"]
    w.agree.value = 0.6
    assert sorted(v for _, v in w.items.options) == ["a0", "a2"] and "<b>2</b> items" in w.caption.value
    shown = dict((v, text) for text, v in w.items.options)
    assert "(3 of 5 listeners)" in shown["a2"] and "(5 of 5 listeners)" in shown["a0"], shown  # "(0.60 of 5)" was a share
    w.items.value = "a2"
    w.open_button.click()
    assert w.browser is not None and w.browser.table.value == ("a2", "raw")
    assert "<h4>a2 [raw]</h4>" in w.browser.detail.value


@pytest.mark.slow
def test_browser_evidence_panel_explains_the_open_item(run_dir, tiny_model):
    """The Evidence button explains the audio on screen: its faithfulness text, a top-span player cut from that audio, the figure."""
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    w.evidence_button.click()
    assert "open an item first" in w.evidence.children[0].value
    w.select("c000", "raw")
    w.evidence_method.value = "occlusion"
    w.evidence_button.click()
    expl = w.shown["explanation"]
    html_text = w.evidence.children[0]
    assert "deletion AUC" in html_text.value and "RANDOM WEIGHTS" in html_text.value and "than random" in html_text.value
    assert expl.target == w.shown["row"]["pred"] and list(expl.attributions) == ["occlusion"]
    assert "model randomisation check: skipped, left out by the Evidence panel" in html_text.value  # skipped, and said
    # the command that runs the check is shown as code: the panel showed "`workbench explain FILE --randomisation full`"
    assert "<code>workbench explain FILE --randomisation full</code>" in html_text.value and "`" not in html_text.value
    for problem in expl.problems("occlusion"):  # every failed check is on the panel
        assert problem.split(":")[0] in html_text.value
    if expl.top_span is None:  # no span from a method that failed its checks: no player, the reason instead
        _, figure = w.evidence.children
        assert "no span supports this class" in html_text.value
    else:
        _, span_player, figure = w.evidence.children
        y, sr = player_samples(span_player)
        s0, s1 = expl.top_span
        np.testing.assert_array_equal(y, w.shown["audio"].samples[int(s0 * sr): int(s1 * sr)].astype(np.float32))
    assert len(figure.value) > 10_000
    w.select("c004", "raw")
    assert w.evidence.children == ()


def test_evidence_panel_explains_an_item_of_a_run_scored_through_onnx_runtime(tmp_path):
    """A run that `--dtype auto` scored through ONNX Runtime (the default on a CPU): the browser opened its items, but
    the Evidence button said "explaining … failed: AttributeError: 'OnnxModel' object has no attribute 'network'". It
    explains with the float32 network of the same weights and says so, as `workbench explain` does."""
    from workbench.model.ref import ModelRef

    for i in range(2):
        sf.write(tmp_path / f"a{i}.wav", speech_like(16000, 0.8, seed=i), 16000, subtype="PCM_16")
    items = [Item(id=f"a{i}", path=f"a{i}.wav", emotion="sad") for i in range(2)]
    manifest = write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv")
    onnx = ModelRef("tiny", device="cpu", dtype="onnx-float32")
    res = run(manifest, out_dir=tmp_path / "run", model=onnx, cache_dir=tmp_path / "cache", workers=0)
    w = LowConfidenceBrowser(res.run_dir)  # the run's own model, as the notebook opens it
    w.select("a0", "raw")
    assert w.net.info.dtype == "onnx-float32"
    w.evidence_method.value = "occlusion"
    w.evidence_button.click()
    panel = w.evidence.children[0].value
    assert "failed" not in w.status.value and "AttributeError" not in panel, w.status.value
    assert "deletion AUC" in panel and "explained with the float32 network of the same weights (the run scored in onnx-float32" in panel
    assert w.shown["explanation"].target == w.shown["row"]["pred"]
    # the skipped randomisation check is said once, in the panel's words (it was said twice, once as "randomisation=None")
    assert panel.count("randomisation check") == 1 and "randomisation=None" not in panel, panel
    assert "left out by the Evidence panel" in panel
    # the reference of a loaded model without gradients loads the differentiable one; with gradients it is the same object
    assert ModelRef.coerce(w.net).load(gradients=True).info.dtype == "float32"
    assert ModelRef.coerce(w.gradient_net).load(gradients=True) is w.gradient_net


def test_the_browser_lists_an_items_finding_codes_separated(run_dir, tiny_model):
    """"low_snr,low_confidence" ran its codes together in the item list (found by the newcomer walk)."""
    from workbench.views.viewbase import _codes

    assert _codes("low_snr,low_confidence") == "low_snr, low_confidence" and _codes(None) == "" and _codes("") == ""
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    codes = {r.id: r.finding_codes for r in w.ok.itertuples() if r.finding_codes}
    assert codes  # the demo-like run has findings to list
    for label, (item_id, _) in w.table.options:
        if codes.get(item_id):
            assert label.endswith(_codes(codes[item_id]))
