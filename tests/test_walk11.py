"""Walk 11: a new researcher's fine-tuning path (a head for a corpus's own labels) through every command and report."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
import soundfile as sf

matplotlib.use("Agg")

from workbench.data.cards import OverlapWarning  # noqa: E402
from workbench.runs.artifacts import mark_random_weights  # noqa: E402

from test_finetune import voice  # noqa: E402

#: the warning a run of a fine-tuned head carried in this walk (four speakers of the corpus trained the head)
OVERLAP = [OverlapWarning("speaker overlap: 4 of the 5 speakers evaluated here (espeak-ng, spk_f1, spk_m1, spk_m2) trained or "
                          "early-stopped the fine-tuned head \"head\"; figures on them are not speaker-independent. Its held-out "
                          "speakers: spk_f2.", "speakers espeak-ng, spk_f1, spk_m1, … (4 of 5) trained head \"head\"")]


@pytest.mark.parametrize("size", [(5, 4.5), (5.5, 4)])  # plot_reliability's; calibrate's risk-coverage figure
def test_the_training_data_mark_fits_inside_a_narrow_figure(size):
    """`workbench metrics` of the head's run drew reliability_raw.png 5 inches wide: its mark "TRAINING DATA: speakers
    espeak-ng, spk_f1, spk_m1, … (4 of 5) trained head head; not an independent test" ran past both edges of the PNG
    ("ING DATA: … not an independen"), and calibrate's 5.5-inch risk-coverage figure ("RAINING … independent tes") at 110
    dpi though it fit at 100. Now a mark wider than the figure is broken over lines, all of it inside at any dpi."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, layout="constrained" if size == (5, 4.5) else None)
    ax.plot([0, 1], [0, 1])
    meta = mark_random_weights(fig, overlap=OVERLAP)
    marks = [t for t in fig.texts if t.get_color() == "crimson"]
    said = " ".join(t.get_text() for t in marks)
    for word in ("TRAINING", "espeak-ng,", "independent", "RANDOM", "nothing"):
        assert word in said.split(), said
    for dpi in (90, 100, 110):  # a report's figure, the default, a run folder's PNG: hinting widens text at some
        fig.set_dpi(dpi)
        renderer = fig.canvas.get_renderer()
        for t in marks:
            box = t.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (dpi, t.get_text(), box.x0, box.x1, fig.bbox.width)
    assert meta["training_overlap_mark"].startswith("TRAINING DATA: speakers espeak-ng") and "\n" not in meta["training_overlap_mark"]
    plt.close(fig)


@pytest.fixture(scope="module")
def parent_and_head(tmp_path_factory):
    """A calm/tense corpus scored by `tiny` (whose nine classes name none of its labels) and by a head for them."""
    from test_head_label_sets import CALM_TENSE, trained_head
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.runs.driver import run

    root = tmp_path_factory.mktemp("walk11")
    (root / "clips").mkdir()
    items = []
    for s, spk in enumerate(("s0", "s1", "s2", "s3")):
        for k, lab in enumerate(CALM_TENSE):
            name = f"{spk}_{lab}.wav"
            sf.write(root / "clips" / name, voice(3 * k, 6, seed=10 * s + k), 16000, subtype="PCM_16")
            items.append(Item(id=name[:-4], path=f"clips/{name}", label=lab, speaker=spk))
    manifest = write_manifest(Manifest(items, root=root), root / "calm_tense.csv")
    head = trained_head(root / "head", CALM_TENSE, seed=1)
    runs = {name: run(manifest, out_dir=root / f"run_{name}", model=model, cache_dir=root / "cache", progress=False).run_dir
            for name, model in (("parent", "tiny"), ("head", str(head)))}
    return runs


def test_compare_of_a_parent_and_its_head_shows_each_items_true_label(parent_and_head, tmp_path, capsys):
    """`workbench compare runs/corpus runs/head`: the parent's run has no truth in the head's labels (calm is none of
    the nine), and the most-different table, flips.csv and the report's tables said "—" under "true label" for every
    item, though the head's run scores them against calm and tense (no flip is counted between disjoint label sets).
    Now the item's label shows."""
    import pandas as pd

    from workbench.cli import main

    out = tmp_path / "before_after"
    main(["compare", str(parent_and_head["parent"]), str(parent_and_head["head"]), "--out", str(out)])
    text = capsys.readouterr().out
    table = text.split("most different items")[1].split("TVD: total variation")[0]
    rows = [line for line in table.splitlines() if " raw " in line]
    assert rows and all(("calm" in r or "tense" in r) and "—" not in r for r in rows), table
    frame = pd.read_csv(out / "disagreements.csv", keep_default_na=False)  # the report's table is drawn from it
    assert len(frame) == 8 and set(frame["emotion"]) == {"calm", "tense"}, frame["emotion"]


def test_an_onnx_export_given_to_a_torch_command_says_to_score_it_with_onnxruntime(parent_and_head, tmp_path, capsys):
    """README: `workbench model export-onnx --model models/head --out models/head-onnx`, then `workbench run corpus.csv
    --model models/head-onnx` (its `--backend onnxruntime` forgotten) said "directory is not an emotion2vec checkpoint:
    config.yaml missing, model.pt missing" and told to point at a ModelScope download. Now it says what the folder is,
    the option that scores it, and the checkpoint it came from."""
    from workbench.cli import main

    head = parent_and_head["head"].parent / "head"
    export = tmp_path / "head-onnx"
    assert main(["model", "export-onnx", "--model", str(head), "--out", str(export), "--no-check"]) == 0
    capsys.readouterr()
    manifest = parent_and_head["head"].parent / "calm_tense.csv"
    code = main(["run", str(manifest), "--model", str(export), "--out", str(tmp_path / "run")])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code != 0 and "Traceback" not in text
    assert "is an ONNX export (model.onnx)" in text and "--backend onnxruntime" in text, text
    assert str(head.resolve()) in text or str(head) in text, text
    assert "model.pt missing" not in text


def test_markup_joined_to_markup_stays_markup_in_a_report_table():
    """The experiment report of the head's run showed `<b>FAILED (below target)</b> (against a valid split-conformal
    procedure …)` with its tags as text in the conformal sets' "all" rows: the verdict and its range were joined with
    `+`, which gave a plain str, and the table escaped it. A plain string added to markup is still escaped there."""
    from workbench.views.html import Markup, table_html

    cell = Markup("<b>FAILED (below target)</b>") + Markup(" (against 0.804-0.980)")
    page = table_html(["check"], [(cell,), (Markup("<i>x</i>") + "<script>",)])
    assert "<td><b>FAILED (below target)</b> (against 0.804-0.980)</td>" in page, page
    assert "&lt;script&gt;" in page and "<script>" not in page


def test_the_comparison_page_says_why_the_parents_run_has_no_figures(parent_and_head):
    """`workbench report checkpoint_comparison -p run_dirs=runs/corpus,runs/head`: the parent's row of the Metrics table
    had n/a for WA, UAR and macro-F1 and "ok" as its check; the row against the first run had McNemar "0 / 0", p "1"
    over 0 paired items. Now the check says why there are no figures, and McNemar is n/a."""
    from workbench.analysis.compare.runs import compare_runs

    page = compare_runs([parent_and_head["parent"], parent_and_head["head"]]).html()
    metrics, against = _tables(page)[1:3]
    parent = metrics[metrics["run"] == "A"].iloc[0]
    assert parent["WA [95% CI]"] == "n/a" and parent["checks"].startswith("no metrics: "), parent.to_dict()
    assert "none of the model's classes" in parent["checks"], parent["checks"]
    row = against.iloc[0]
    assert row["paired"] == "0" and row["McNemar b / c"] == "n/a" and row["p"] == "n/a", row.to_dict()
    assert row["checks"].startswith("no paired item: no item is labelled in both"), row["checks"]


def _tables(page: str) -> list:
    """Each <table> of ``page`` as a DataFrame of its cells' text (the first row its header)."""
    from html.parser import HTMLParser

    import pandas as pd

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.tables[-1][-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    return [pd.DataFrame(rows[1:], columns=rows[0]) for rows in parser.tables]


def _crimson_rows(png: bytes) -> int:
    """Rows of a PNG holding the marks' crimson (220, 20, 60)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    near = (np.abs(pixels - np.array([220, 20, 60])).sum(axis=2) < 60)
    return int(near.any(axis=1).sum())


def test_the_comparison_pages_item_says_its_true_label_and_carries_the_marks(parent_and_head):
    """The checkpoint comparison page's "item where each pair of runs differs most" said "true —" (the parent's run has
    no truth in the head's labels) while its figure marked [cheerful]; the figure carried neither the RANDOM WEIGHTS nor
    the TRAINING DATA mark that every other figure of these runs has. Its page figure too went out without the
    TRAINING DATA mark of run B."""
    import json

    from IPython.display import HTML, Image

    from workbench.analysis.compare.figures import show_item
    from workbench.analysis.compare.runs import compare_runs
    from workbench.views.report_run import TEMPLATES

    cmp = compare_runs([parent_and_head["parent"], parent_and_head["head"]])
    shown = show_item(cmp.disagreements(1), 0)
    head = next(o for o in shown if isinstance(o, HTML)).data
    assert "true <b>calm</b>" in head or "true <b>tense</b>" in head, head
    png = next(o for o in shown if isinstance(o, Image)).data
    assert _crimson_rows(png) >= 10, "no mark at the figure's foot"
    assert cmp.training_overlap and all(w.startswith("run B: ") for w in cmp.training_overlap), cmp.training_overlap
    cells = json.loads((TEMPLATES / "checkpoint_comparison.ipynb").read_text(encoding="utf-8"))["cells"]
    figure = next("".join(c["source"]) for c in cells if "plot_runs_comparison" in "".join(c["source"]))
    assert "overlap=cmp.training_overlap" in figure, figure


def test_the_comparison_figure_names_the_chance_line_when_the_first_run_has_no_uar(parent_and_head):
    """comparison.png of the parent's run (nothing scored) and the head's: the head's dotted chance-UAR line was drawn
    but missing from the legend, which named it only when the first run drew it."""
    import matplotlib.pyplot as plt

    from workbench.analysis.compare.figures import plot_runs_comparison
    from workbench.analysis.compare.runs import compare_runs

    fig = plot_runs_comparison(compare_runs([parent_and_head["parent"], parent_and_head["head"]]))
    named = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "chance UAR" in named and "majority baseline (WA)" in named, named
    plt.close(fig)


def test_an_explained_item_of_a_heads_run_carries_the_training_data_mark(parent_and_head, tmp_path, capsys):
    """`workbench explain runs/head --item …`: explain_worst.png of the head's run carried "TRAINING DATA: speakers …
    trained head head", but each item's explanation.png (and its cache entry in the run folder) carried only the
    RANDOM WEIGHTS mark (this test's head is not marked random), though the item's speaker trained the head."""
    from workbench.cli import main
    from workbench.runs.folder import RunFolder

    run = parent_and_head["head"]
    out = tmp_path / "expl"
    assert main(["explain", str(run), "--item", "s0_calm", "--method", "occlusion", "--randomisation", "none",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    for folder, png in ((out, "explanation.png"), (run, None)):
        recorded = RunFolder(folder).artifacts()
        names = [png] if png else [n for n in recorded if n.startswith("explain_") and n.endswith(".png")]
        assert names, recorded
        for name in names:
            # the item's own speaker, not the run's list (explainfix16: a held-out speaker's item carried the run's)
            assert recorded[name].get("training_overlap_mark", "").startswith("TRAINING DATA: this item's speaker s0 trained head"), (name, recorded[name])


def test_an_explained_item_of_a_held_out_speaker_says_its_speaker_did_not_train_the_head(parent_and_head, tmp_path, capsys):
    """explainfix16: `workbench explain runs/head --item s3_calm` (s3 is on the test side of the head's card) drew
    "TRAINING DATA: speakers s0, s1, s2 (3 of 4) trained head "head"" at the figure's foot, a run-level mark read as a
    claim about this item. Now the item's own speaker is said: not in the head's training data, no TRAINING DATA mark,
    in explanation.json and on screen; an item of a training speaker says so (the test above)."""
    import json

    from workbench.cli import main
    from workbench.runs.folder import RunFolder

    out = tmp_path / "expl"
    assert main(["explain", str(parent_and_head["head"]), "--item", "s3_calm", "--method", "occlusion",
                 "--randomisation", "none", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    recorded = RunFolder(out).artifacts().get("explanation.png", {})  # no mark at its foot: no entry
    assert "training_overlap_mark" not in recorded, recorded
    record = json.loads((out / "explanation.json").read_text())
    assert "training_overlap_mark" not in record
    info = record["item_speaker_training"]
    assert info["in_training"] is False and info["speaker"] == "s3" and "held out" in info["words"], info
    assert "this item's speaker s3 was not in head" in text and "TRAINING DATA" not in text, text


def test_the_segment_heatmaps_caption_lies_inside_the_figure(tmp_path):
    """`workbench segment long_dialogue.wav --model models/head`: heatmap.png's caption under the timeline ("time (s);
    bottom row: neighbouring segments … merged when < 2 s apart; hatched (≤ 1/K): … 0 of 8 spans") was one line wider
    than the figure, cut at both edges. Now each rule is a line of its own, all inside the PNG."""
    from workbench.runs.longform import SegmentConfig, plot_longform, segment_file

    sr = 16000
    rng = np.random.default_rng(0)
    parts = []
    for k in range(6):
        t = np.arange(int(1.5 * sr)) / sr
        parts += [0.3 * np.sin(2 * np.pi * (120 + 40 * k) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)), np.zeros(int(1.2 * sr))]
    sf.write(tmp_path / "long.wav", (np.concatenate(parts) + 0.01 * rng.standard_normal(sum(map(len, parts)))).astype(np.float32), sr)
    res = segment_file(tmp_path / "long.wav", model="tiny", out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"), figures=False)
    fig = plot_longform(res)
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    label = fig.axes[1].xaxis.label
    assert "merged when <" in label.get_text() and "hatched" in label.get_text()
    box = label.get_window_extent(fig._get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0, (box, fig.bbox)


def _widget_text(widget, out=None) -> str:
    out = [] if out is None else out
    if isinstance(getattr(widget, "value", None), str):
        out.append(widget.value)
    for child in getattr(widget, "children", ()) or ():
        _widget_text(child, out)
    return " ".join(out)


def test_the_widgets_of_a_heads_run_say_its_speakers_trained_the_head(parent_and_head):
    """The notebooks' widgets on the head's run (the confusion explorer with its UAR, the low-confidence browser, the
    embedding map) showed the RANDOM WEIGHTS banner where it applied but never that the run's speakers trained the
    head, which metrics, compare, calibrate and the report all warn of."""
    from workbench.views.widgets import ConfusionExplorer, EmbeddingMap, LowConfidenceBrowser

    for view in (ConfusionExplorer, LowConfidenceBrowser, EmbeddingMap):
        text = _widget_text(view(parent_and_head["head"]).widget)
        assert "trained or early-stopped the fine-tuned head" in text, (view.__name__, text[:300])
    assert "trained or early-stopped" not in _widget_text(ConfusionExplorer(parent_and_head["parent"]).widget)


def _head_rows(n=60, seed=0):
    """A head's run over four classes of its own, near-uniform scores (as a random head gives)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    classes = ["calm", "cheerful", "gloomy", "irate"]
    rows = []
    for i in range(n):
        p = rng.dirichlet(np.ones(4) * 3)
        rows.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": classes[i % 4], "speaker": f"s{i % 5}",
                     "pred": classes[int(np.argmax(p))], "confidence": float(p.max()),
                     **{f"score_{k}": float(v) for k, v in zip(classes, p)}})
    return pd.DataFrame(rows)


def test_the_conformal_set_sizes_figure_of_four_classes_keeps_its_title_and_legend_inside():
    """`workbench calibrate runs/head`: calibration_set_sizes_0.png of the head's four classes was 5.1 inches wide; its
    title lost "raw: " at the left and its legend "mean size 1.86 of 4" at the right, cut by the PNG's edges."""
    import matplotlib.pyplot as plt

    from workbench.analysis import calibration as C

    fig = C.plot_set_sizes(C.calibrate(_head_rows(), by="speaker", n_boot=10))
    fig.savefig(io.BytesIO(), format="png", dpi=110)  # as Artifacts.write_figure saves it: no tight box
    renderer = fig._get_renderer()
    ax = fig.axes[0]
    shown = [ax.title, *ax.get_legend().get_texts()]
    assert any("mean size" in t.get_text() for t in shown) and ax.title.get_text().startswith("raw: ")
    for t in shown:
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (t.get_text(), box.x0, box.x1, fig.bbox.width)
    plt.close(fig)


def test_the_marks_lowest_line_keeps_its_descenders_inside_the_png():
    """metrics' breakdown_gender_raw.png: the foot mark's lowest line sat 0.2 % of the height above the edge, and the
    descenders of "predictions" touched the PNG's last rows, cut off."""
    import matplotlib.pyplot as plt
    from PIL import Image

    for dpi in (90, 110):
        fig, ax = plt.subplots(figsize=(6.5, 3))
        ax.plot([0, 1], [0, 1])
        mark_random_weights(fig, overlap=OVERLAP)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        pixels = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(int)
        assert (pixels[-2:].sum(axis=2) < 700).sum() == 0, f"ink in the last two rows at {dpi} dpi"


def test_a_notebook_page_of_a_heads_run_says_its_speakers_trained_the_head(parent_and_head, tmp_path, capsys):
    """`workbench report notebooks/03_low_confidence_cases.ipynb -p run_dir=runs/head`: the page said RANDOM WEIGHTS
    first (where it applied) but nothing of the head's training speakers, which its widgets' figures are computed on.
    Now the page says the run's training-data warning under that banner (once: a section that says it keeps its own)."""
    import nbformat

    from workbench.cli import main

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("run_dir = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print('a widget would open', run_dir is not None)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "widget_page.ipynb"
    nbformat.write(nb, src)
    assert main(["report", str(src), "-p", f"run_dir={parent_and_head['head']}", "--out", str(tmp_path / "reports")]) == 0
    capsys.readouterr()
    page = next((tmp_path / "reports").glob("widget_page/*/widget_page.html")).read_text(encoding="utf-8")
    assert page.count("trained or early-stopped the fine-tuned head") == 1, page[:2000]


def test_compare_of_a_parent_and_its_head_does_not_call_the_labelled_items_unlabelled(parent_and_head, capsys):
    """`workbench compare runs/corpus runs/head` said "(+n/a among 51 unlabelled items, not paired for accuracy)" of a
    corpus whose every item has a label (calm, irate …): they are labelled, only not with a class of both runs."""
    from workbench.cli import main

    assert main(["compare", str(parent_and_head["parent"]), str(parent_and_head["head"]), "--bootstrap", "20",
                 "--out", str(parent_and_head["head"].parent / "cmp_words")]) == 0
    out = capsys.readouterr().out
    assert "unlabelled item" not in out, out
    assert "(8 items not labelled with a class of both runs: not paired for accuracy, label flips n/a)" in out, out


def test_the_widgets_say_an_items_label_that_is_none_of_the_models_classes(parent_and_head, tiny_model):
    """explainfix16: the run browser and the embedding map of `tiny`'s run on calm/tense items said "true —" (list,
    detail, neighbours, hover text), as though the items had no label; the report says "labelled calm, none of the
    model's classes" and so do they now."""
    from workbench.views.run_browser import EmbeddingMap, LowConfidenceBrowser

    run = parent_and_head["parent"]
    w = LowConfidenceBrowser(run, model=tiny_model, threshold=1.0)
    w.select("s0_calm", "raw")
    said = "labelled calm, none of the model&#x27;s classes"
    assert said.replace("&#x27;", "'") in " ".join(str(o[0]) for o in w.table.options), w.table.options
    detail = w.detail.value.replace("&#39;", "&#x27;")
    assert f"true <b>{said}</b>" in detail and "true —" not in detail, detail
    assert "<li>" in detail and ", true —," not in detail and "none of the model" in detail.split("<li>", 1)[1], detail
    emb = EmbeddingMap(run, variant="raw", model=tiny_model)
    hover = [t for trace in emb.plot.data for t in trace.text]
    assert hover and all("none of the model" in t and "true —" not in t for t in hover), hover[:3]
