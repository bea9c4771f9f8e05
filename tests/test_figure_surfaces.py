"""Every flagged figure is flagged on every surface it is shown on: the PNG (its title or an annotation), which the
report page shows too, as well as the screen and JSON.  Each test constructs the failure and reads the figure's text."""

from __future__ import annotations

import numpy as np

from test_calibration import planted_run
from test_self_checks import _degenerate_run
from workbench.analysis.calibration import calibrate, plot_reliability_before_after, plot_risk_coverage


def _figure_text(fig) -> str:
    """Every title, legend entry and annotation of ``fig``, one string (what a reader of the PNG can read)."""
    texts = []
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_title("left")]
        legend = ax.get_legend()
        texts += [t.get_text() for t in legend.get_texts()] if legend else []
        texts += [t.get_text() for t in ax.texts]
    texts += [fig._suptitle.get_text()] if fig._suptitle else []
    return "\n".join(texts)


def _shuffled_scores(df):
    """Each item keeps its label and gets another item's scores: its confidence says nothing about its errors."""
    out = df.copy()
    cols = [c for c in out.columns if c.startswith("score")] + ["pred", "confidence"]
    out[cols] = out[cols].iloc[np.random.default_rng(1).permutation(len(out))].to_numpy()
    return out


def test_the_risk_coverage_figure_says_an_aurc_no_lower_than_a_random_orders():
    """calibrate's screen, calibration.json and the page's table flagged 'AURC before … is NOT measurably below …', the
    risk–coverage figure (PNG and the report page's figure) showed the same AURC bare."""
    rep = calibrate(_shuffled_scores(planted_run(n_speakers=4, per_speaker=60, t_true=2.0)), n_boot=50, folds=4)
    flags = rep.checks["aurc_not_below_random_order"]
    assert flags  # the case itself
    fig = plot_risk_coverage(rep)
    title = " ".join(fig.axes[0].get_title().split())  # wrapped to the figure's width
    assert "⚠" in title and fig.axes[0].title.get_color() == "crimson"
    for f in flags:
        assert " ".join(f.split(":")[0].split()) in title, (f, title)
    assert "a random order's AURC" in _figure_text(fig)  # the dotted line the check compares with is named so


def test_the_calibration_figures_carry_the_marks_of_the_table():
    """An ECE whose interval misses its point (80 items: binned ECE resampled is biased upwards) and an AURC of no width
    (every item wrong: AURC 1.000 [1.000, 1.000]) are marked '!!' in calibrate's table; the reliability figure showed its
    ECEs, the risk–coverage figure its AURCs, bare."""
    rep = calibrate(planted_run(n_speakers=4, per_speaker=20, t_true=1.0, seed=0), n_boot=100, folds=2)
    assert "ECE before" in rep.checks["point_outside_interval"]  # the case itself
    text = _figure_text(plot_reliability_before_after(rep))
    assert "!! outside its interval" in next(t for t in text.splitlines() if t.startswith("before: ECE"))
    assert "ECE before: !! outside its interval" in " ".join(text.split())
    flat = calibrate(_degenerate_run(), n_boot=20, folds=2)
    assert {"AURC before", "AURC after"} <= set(flat.checks["zero_width_intervals"])
    text = _figure_text(plot_risk_coverage(flat))
    assert all("!! zero width" in t for t in text.splitlines() if t.startswith(("before: AURC", "after: AURC")))
    assert "AURC after: !! zero width" in " ".join(text.split())
    clean = calibrate(planted_run(n_speakers=6, per_speaker=80, t_true=2.0), n_boot=60, folds=3)
    assert not clean.warnings and not clean.checks["point_outside_interval"]
    assert "⚠" not in _figure_text(plot_risk_coverage(clean)) and "!!" not in _figure_text(plot_reliability_before_after(clean))


def test_a_projection_coloured_by_cluster_says_the_clusterings_failed_checks(tmp_path, capsys):
    """embeddings flagged a k at the top of its search and a silhouette no better than a blob's on the screen and in
    --json; the projection coloured by cluster (projection_pca_cluster.png) drew the ten clusters of twelve planted ones
    bare.  Its title now carries them, as artifacts.json records."""
    import json

    from test_probe import synthetic_row, write_run
    from workbench.analysis.embeddings import cluster
    from workbench.cli import main

    rng = np.random.default_rng(3)
    emb = np.concatenate([c + rng.standard_normal((4, 32)) for c in np.eye(32)[:12] * 8])
    expected = cluster(emb, null_draws=0).bound_words()
    assert expected  # the case itself: k=10 at the top of 2-10
    rf = write_run(tmp_path / "run", [synthetic_row(f"u{i}", emotion="angry") for i in range(len(emb))], emb)
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e"), "--color-by", "cluster", "emotion", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert expected in doc["clusters"]["failed_checks"]
    index = json.loads((tmp_path / "e" / "artifacts.json").read_text())
    title = " ".join(" ".join(index["projection_pca_cluster.png"]["titles"]).split())
    assert "!! k=10 is the largest k searched (2-10), the silhouette still rising there" in title, title
    emotion = " ".join(" ".join(index["projection_pca_emotion.png"]["titles"]).split())
    assert "k=10" not in emotion and "silhouette" not in emotion  # the emotions' colours are no clustering
    # the map's own check is on both (12 orthogonal clusters do not fit two principal components: test_projection_trust)
    assert ("NEIGHBOURHOODS NOT KEPT" in emotion) == ("NEIGHBOURHOODS NOT KEPT" in title) == bool(doc["projection_check"]["flag"])
    blob = rng.standard_normal((40, 16)) @ np.diag(np.linspace(3, 0.1, 16)) + 1.0  # one blob: no cluster structure
    rf = write_run(tmp_path / "blob", [synthetic_row(f"b{i}", emotion="angry") for i in range(len(blob))], blob)
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "b"), "--color-by", "cluster"]) == 0
    assert "!! silhouette check: NO CLUSTER STRUCTURE" in capsys.readouterr().out
    index = json.loads((tmp_path / "b" / "artifacts.json").read_text())
    assert "!! NO CLUSTER STRUCTURE beyond a single blob" in " ".join(" ".join(index["projection_pca_cluster.png"]["titles"]).split())


def test_an_ece_whose_interval_misses_it_is_flagged_by_metrics_on_every_surface(tmp_path, capsys, monkeypatch):
    """metrics printed 'ECE 0.103 [0.107, 0.206] n=80' bare (calibrate marks the same case '!! outside its interval'); the
    report page called it 'ok (spread)' and the reliability figure showed it unmarked.  80 items, 4 classes."""
    import json

    from test_calibration_cli import _run_folder
    from workbench.cli import main
    from workbench.views import reporting

    run = tmp_path / "run"
    _run_folder(run, planted_run(n_speakers=4, per_speaker=20, t_true=1.0, seed=0))
    assert main(["metrics", str(run), "--by", "speaker"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("ECE"))
    lo, hi = (float(v) for v in line.split("[")[1].split("]")[0].split(","))
    assert not lo <= float(line.split()[1]) <= hi  # the case itself
    assert "!! point outside its interval" in line
    saved = json.loads((run / "metrics.json").read_text())
    report = saved["variants"]["raw"] if "variants" in saved else saved["raw"]
    assert report["flags"]["ece"].startswith("point outside its interval")
    titles = json.loads((run / "artifacts.json").read_text())
    assert "!! ECE: point outside its interval" in " ".join(titles["reliability_raw.png"]["titles"])
    assert "ECE" not in " ".join(titles["confusion_raw.png"]["titles"])  # a figure without the ECE carries none of its flags
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.metrics_section(run, by=("speaker",))
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    row = next(r for r in html.split("<tr") if ">ECE<" in r)
    assert "point outside its interval" in row and "ok (spread)" not in row


def test_the_runs_comparison_figure_says_which_runs_are_at_chance(tmp_path):
    """compare RUN_A RUN_B printed 'UAR … — AT CHANCE' and the intervals' few-items flag under each run, comparison.json
    kept them in its flags; comparison.png drew the two UARs with no chance level and no word."""
    from test_probe import synthetic_row, write_run
    from workbench.analysis.compare import compare_runs, plot_runs_comparison

    rng = np.random.default_rng(0)
    truth = ["happy", "sad"] * 8
    runs = []
    for name, seed in (("A", 1), ("B", 2)):
        guess = np.random.default_rng(seed).choice(["happy", "sad"], len(truth))  # a coin flip per item
        rows = [synthetic_row(f"i{k}", emotion=t, pred=str(p)) for k, (t, p) in enumerate(zip(truth, guess))]
        runs.append(write_run(tmp_path / name, rows, [rng.standard_normal(4) for _ in rows], checksum=str(seed) * 64))
    cmp = compare_runs(runs, n_boot=200)
    flags = {n: cmp.reports[n]["raw"].flags() for n in ("A", "B")}
    assert all("uar_chance" in f and "few_items" in f for f in flags.values())  # the case itself
    ax = plot_runs_comparison(cmp).axes[0]
    title = " ".join(ax.get_title().split())
    assert "!! A, B: UAR AT CHANCE" in title and "!! A, B: intervals from only 16 item(s)" in title, title
    assert "chance UAR" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_breakdown_figure_carries_the_all_items_figures_flags(tmp_path):
    """breakdown_speaker_raw.png draws 'all items (n=16): 0.500 [...]' as the band every group is read against; metrics
    flags that UAR AT CHANCE and its intervals from 16 items, the figure did not."""
    from test_probe import synthetic_row, write_run
    from workbench.analysis.metrics import evaluate, plot_breakdown

    truth = ["happy", "sad"] * 8
    guess = np.random.default_rng(1).choice(["happy", "sad"], len(truth))
    rows = [synthetic_row(f"i{k}", emotion=t, pred=str(p), speaker=f"s{k % 2}") for k, (t, p) in enumerate(zip(truth, guess))]
    results = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows)).results()
    flags = evaluate(results, n_boot=200, by=()).flags()
    assert "uar_chance" in flags and "few_items" in flags  # the case itself
    title = " ".join(plot_breakdown(results, "speaker", n_boot=200).axes[0].get_title().split())
    assert "!! UAR: AT CHANCE" in title and "intervals from only 16 item(s)" in title, title
    wa_title = " ".join(plot_breakdown(results, "speaker", metric="wa", n_boot=200).axes[0].get_title().split())
    assert "AT CHANCE" not in wa_title and "intervals from only 16 item(s)" in wa_title  # WA has no chance check of its own


def test_the_variant_comparison_figure_shows_the_confidence_shift_with_its_interval_and_flag():
    """compare printed 'confidence shift mean +0.000 [+0.000, +0.000] … !! confidence shift: zero-width interval'; the
    histogram of the same shifts in compare_<i>.png (and the variant comparison page) showed neither the mean, nor its
    interval, nor the flag (the interval was computed there and dropped)."""
    import pandas as pd

    from test_compare_checks import _always_wrong
    from workbench.analysis.compare import compare_results, plot_comparison

    same = pd.DataFrame(_always_wrong("raw") + _always_wrong("loud"))  # every item scored alike: every shift is 0
    _, (c,), _ = compare_results(same, baseline="raw", n_boot=50)
    assert "confidence_shift" in c.interval_flags()  # the case itself
    ax = plot_comparison(same, c).axes[0]
    assert "!! confidence shift: zero-width interval" in ax.get_title()
    from test_probe import synthetic_row
    from workbench.labels import LABEL_KEYS

    rng = np.random.default_rng(0)

    def row(k, variant, pred, top):  # the predicted class scored `top`, the others sharing the rest
        return synthetic_row(f"i{k}", emotion=("angry", "sad")[k % 2], pred=pred, variant=variant,
                             scores={c: top if c == pred else (1 - top) / (len(LABEL_KEYS) - 1) for c in LABEL_KEYS})
    tops = rng.uniform(0.4, 0.9, (2, 12))
    mixed = pd.DataFrame([row(k, "raw", ("angry", "sad")[k % 2], tops[0, k]) for k in range(12)]
                         + [row(k, "loud", ("angry", "sad")[(k // 3) % 2], tops[1, k]) for k in range(12)])
    _, (m,), _ = compare_results(mixed, baseline="raw", n_boot=50)
    assert not m.interval_flags()
    ax = plot_comparison(mixed, m).axes[0]
    lo, hi = m.confidence_shift_ci
    assert f"mean shift {m.confidence_shift_mean:+.3f} [{lo:+.3f}, {hi:+.3f}]" in ax.get_legend().get_texts()[0].get_text()
    assert "!!" not in ax.get_title()
    deltas = plot_comparison(mixed, m).axes[1]  # ΔWA and ΔUAR: which difference, which interval, over how many items
    assert deltas.get_ylabel() == f"loud − raw\n(paired bootstrap 95 % CI, n={m.n_paired})", deltas.get_ylabel()
    # the McNemar p with the discordant counts it rests on, as the screen gives it ("p = 1" from b = c = 0 tests nothing)
    assert f"McNemar b={m.mcnemar_b} c={m.mcnemar_c} p = " in deltas.get_title(), deltas.get_title()
    flat = plot_comparison(same, c)
    assert "McNemar b=0 c=0 p = 1" in flat.axes[1].get_title()
    import matplotlib.pyplot as plt

    plt.close(flat)


def test_the_confusion_widget_shows_the_figures_and_checks_of_its_matrix_and_random_weights(tmp_path):
    """ConfusionExplorer drew the matrix of 16 coin flips with no figure and no word (the confusion PNG says 'UAR … !! AT
    CHANCE; intervals from only 16 item(s)'), and neither it nor VariantDiff said the run was scored with random weights."""
    from test_probe import synthetic_row, write_run
    from workbench.model.network import RANDOM_WEIGHTS_BANNER
    from workbench.views.error_views import ConfusionExplorer, VariantDiff

    truth = ["happy", "sad"] * 8
    guess = np.random.default_rng(1).choice(["happy", "sad"], len(truth))
    rows = [synthetic_row(f"i{k}", emotion=t, pred=str(p), variant=v) for v in ("raw", "loud") for k, (t, p) in enumerate(zip(truth, guess))]
    rf = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows), random_weights=True)
    w = ConfusionExplorer(rf)
    assert "UAR 0." in w.heading.value and "AT CHANCE" in w.heading.value and "intervals from only 16 item(s)" in w.heading.value
    assert RANDOM_WEIGHTS_BANNER in w.heading.value.replace("&#x27;", "'")
    d = VariantDiff(rf)
    assert RANDOM_WEIGHTS_BANNER in d.widget.children[0].value.replace("&#x27;", "'")


def test_a_random_weights_runs_figures_say_so_at_their_foot_and_only_theirs(tiny_model, tmp_path):
    """A PNG travels without the screen's banner: a random-weights run's confusion matrix was a bare figure. Now its
    figures (in the run folder and in --out) carry the mark, recorded in artifacts.json; a real run's carry none."""
    from test_calibration_cli import _run_folder
    from test_runs import make_dataset
    from workbench.analysis.metrics import run_metrics
    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.runs.driver import run
    from workbench.runs.folder import RunFolder

    manifest = make_dataset(tmp_path / "data", n=12, bad=False)
    res = run(manifest, out_dir=tmp_path / "run", model=tiny_model, use_cache=False, workers=0)
    rf = RunFolder(res.run_dir)
    assert rf.random_weights
    for where in (None, tmp_path / "out"):
        run_metrics(rf, by=(), out=where, n_boot=20)
        dest = RunFolder(where or rf.path)
        pngs = {k: v for k, v in dest.artifacts().items() if k.endswith(".png")}
        assert pngs and all(v.get("random_weights_mark") == RANDOM_WEIGHTS_MARK for v in pngs.values()), pngs
    other = _run_folder(tmp_path / "synthetic", planted_run(n_speakers=4, per_speaker=20))
    assert not other.random_weights
    run_metrics(other, by=(), n_boot=20)
    pngs = {k: v for k, v in other.artifacts().items() if k.endswith(".png")}
    assert pngs and not any("random_weights_mark" in v for v in pngs.values())


def _compared_runs(tmp_path, random_weights: tuple[bool, bool]):
    """Two finished runs of the same six items in two variants, scored by a model with or without random weights."""
    from test_probe import synthetic_row, write_run

    rows = [synthetic_row(f"i{k}", emotion=e, pred=p, variant=v) for k, (e, p) in
            enumerate([("happy", "happy"), ("sad", "sad"), ("sad", "happy"), ("angry", "angry"), ("neutral", "sad"), ("happy", "happy")])
            for v in ("raw", "tel")]
    emb = [np.array([k + 1.0, 1.0, 0.0]) for k in range(len(rows))]
    return [write_run(tmp_path / name, rows, emb, checksum=name * 64, random_weights=rw) for name, rw in zip("ab", random_weights)]


def test_compare_figures_in_an_out_folder_carry_the_random_weights_mark_when_a_run_has_random_weights(tmp_path):
    """`compare A B --out` (its runs comparison figure) and `compare RUN --out` (its variant figures) wrote bare PNGs, in
    no artifacts.json, while a random-weights run's own figures carry RANDOM_WEIGHTS_MARK: now they carry it when any
    compared run has random weights, recorded in artifacts.json, and not otherwise."""
    from workbench.analysis.compare import compare_run, compare_runs, write_runs_comparison
    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.runs.folder import RunFolder

    for random_weights in ((False, True), (False, False)):
        case = tmp_path / "-".join(map(str, random_weights))
        a, b = _compared_runs(case, random_weights)
        out = case / "runs_compared"
        write_runs_comparison(compare_runs([a, b], n_boot=20), out)
        compare_run(b, n_boot=20, out=case / "variants_compared")
        for dest, name in ((out, "comparison.png"), (case / "variants_compared", "compare_1.png")):
            assert (dest / name).is_file()
            meta = RunFolder(dest).artifacts().get(name, {})
            assert meta.get("random_weights_mark") == (RANDOM_WEIGHTS_MARK if any(random_weights) else None), (dest, meta)


def test_an_explanation_of_a_file_in_an_out_folder_carries_the_random_weights_mark(tmp_path, capsys):
    """`explain --out` wrote explanation.png as bytes rendered beforehand, with no mark and no artifacts.json entry: a
    seeded random checkpoint's explanation now says so at its foot (test_explain_cache: a run item's, in its cache)."""
    import json

    import soundfile as sf
    from conftest import speech_like
    from workbench.cli import main
    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.runs.folder import RunFolder

    sf.write(tmp_path / "c.wav", speech_like(16000, 1.0, seed=3), 16000)
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "c.wav"), "--model", "tiny", "--method", "occlusion", "--steps", "4",
                 "--randomisation", "none", "--out", str(out)]) == 0
    capsys.readouterr()
    assert RunFolder(out).artifacts()["explanation.png"]["random_weights_mark"] == RANDOM_WEIGHTS_MARK
    assert json.loads((out / "explanation.json").read_text())["random_weights_mark"] == RANDOM_WEIGHTS_MARK


def test_the_random_weights_mark_is_drawn_below_the_figure_not_over_its_tick_labels(tmp_path):
    """explain_worst.png (a constrained layout whose method names sit at the foot) had the mark written across its
    x tick labels "ig" and "occlusion"; a figure laid out once (tight_layout) keeps its look and gets the room too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.runs.folder import RunFolder
    from workbench.serialize import save_figure

    dest = RunFolder(tmp_path)
    dest.random_weights_source = True  # an --out folder of a random-weights run
    constrained, ax = plt.subplots(figsize=(9, 2.2), layout="constrained")
    ax.imshow(np.zeros((3, 3)), aspect="auto")
    ax.set_xticks(range(3), ["ig", "occlusion", "tf-occlusion"], fontsize=8)
    tight, ax2 = plt.subplots(figsize=(6, 3))
    ax2.plot([0, 1], [0, 1])
    ax2.set_xlabel("confidence")
    save_figure(tight)
    for name, fig in (("constrained.png", constrained), ("tight.png", tight)):
        dest.write_figure(name, fig)
        FigureCanvasAgg(fig)  # closed by write_figure: a canvas again, to measure what the PNG shows
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        mark = next(t for t in fig.texts if t.get_text() == RANDOM_WEIGHTS_MARK).get_window_extent(r)
        others = [t for a in fig.axes for t in a.get_xticklabels() + [a.xaxis.label] if t.get_text()]
        assert others and [t.get_text() for t in others if t.get_window_extent(r).overlaps(mark)] == [], name
        assert (tmp_path / name).exists()


def test_a_report_pages_figures_of_a_random_weights_run_carry_the_mark_and_a_real_runs_do_not(tmp_path, monkeypatch):
    """The report page had the banner, but its figures (an image saved from the page travels alone) were bare: every
    figure a report section draws for a random-weights run now carries the mark at its foot, as saved PNGs do."""
    import matplotlib.pyplot as plt

    from workbench.labels import RANDOM_WEIGHTS_MARK
    from workbench.views import reporting

    marked_run, real_run = _compared_runs(tmp_path, (True, False))
    shown, drawn = [], []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    monkeypatch.setattr(plt, "close", lambda fig=None: drawn.append(fig))  # show_figure closes each figure it embeds
    for run, expected in ((marked_run, True), (real_run, False)):
        shown.clear(), drawn.clear()
        reporting.metrics_section(run.path, by=())
        reporting.comparison_section(run.path, baseline="raw")
        images = [o for o in shown if type(o).__name__ == "Image"]
        assert len(images) == len(drawn) >= 3  # confusion, reliability, one variant comparison
        marks = [any(t.get_text() == RANDOM_WEIGHTS_MARK for t in fig.texts) for fig in drawn]
        assert marks == [expected] * len(drawn), (run.path, marks)
