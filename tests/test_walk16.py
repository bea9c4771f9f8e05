"""walk16: a fine-tuned head carried through every command, read on a page 800 px wide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _fusion_payload(checks: int) -> dict:
    """A fusion.json as `workbench fuse` writes it, with ``checks`` long failed checks (a head of a random checkpoint
    evaluated on the speakers that trained it: the demo set's fusion figure had 7 such lines)."""
    metrics = {m: {"uar": 0.3 + 0.1 * k, "uar_ci": [0.2 + 0.1 * k, 0.45 + 0.1 * k]}
               for k, m in enumerate(("head", "speech", "text", "early", "late"))}
    long = ("WA 0.519 [0.261, 0.857]: AT THE MAJORITY BASELINE: the interval reaches 0.308, the WA of always answering "
            "bright (16/52), so the figure cannot be told from a constant guess")
    return {"folds": 5, "n_items": 52, "classes": ["bright", "calm", "low", "tense"], "metrics": metrics,
            "random_weights": True, "checks": [f"check {k}: {long}" for k in range(checks)]}


def test_the_fusion_figures_check_lines_are_readable_and_overlap_neither_the_bars_nor_each_other():
    """The fusion figure's check lines were 7 pt (about 10 px on the page): unreadable beside every other figure's 9-10 pt."""
    from workbench.analysis.fusion import plot_fusion

    fig = plot_fusion(_fusion_payload(6))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    title = ax.title
    assert title.get_fontsize() >= 9, title.get_fontsize()
    box, axes_box, fig_box = title.get_window_extent(renderer), ax.get_window_extent(renderer), fig.bbox
    assert box.y0 >= axes_box.y1 - 1, (box, axes_box)  # the lines stand above the bars' frame, not over it
    assert box.x0 >= fig_box.x0 and box.x1 <= fig_box.x1 and box.y1 <= fig_box.y1, (box, fig_box)  # and inside the figure
    assert axes_box.height / fig.dpi >= 2.0, axes_box.height / fig.dpi  # the bars keep their room however many checks
    for line in title.get_text().split("\n"):
        assert len(line) <= 80, line


def test_the_most_different_items_table_breaks_long_ids_after_their_underscores():
    """The checkpoint comparison's "Most different items" table (12 columns) was 816-830 px wide in the 768 px column
    of an 800 px window: its ids (angry_en_48k_stereo) could not break, so the embedding cosine sat behind a scroll bar."""
    from workbench.views.html import breakable_paths

    page = breakable_paths("<table><tr><td>angry_en_48k_stereo</td><td>a_b</td><td>__init__</td><td>happy &amp; sad</td></tr></table>")
    assert "<td>angry_<wbr>en_<wbr>48k_<wbr>stereo</td>" in page
    assert "<td>a_b</td>" in page and "<td>__init__</td>" in page and "<td>happy &amp; sad</td>" in page  # short, edge and prose cells as they were


def _page_widths(tmp_path: Path, fragment: str, width: int) -> list:
    """``[scrollWidth, clientWidth]`` of each table of ``fragment`` as a report page shows it, ``width`` px wide, in
    Chromium."""
    import nbformat
    from test_browser import CHROMIUM, _browser_or_skip
    from workbench.views.html import notebook_html

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": fragment})])])
    page_file = tmp_path / "page.html"
    page_file.write_text(notebook_html(nb, title="checkpoint_comparison"), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            return page.evaluate("[...document.querySelectorAll('table')].map(t => [t.scrollWidth, t.clientWidth, t.innerText])")
        finally:
            browser.close()


@pytest.mark.browser
def test_the_most_different_items_table_of_three_runs_fits_an_800_px_window(tmp_path):
    """The default checkpoint comparison (the demo set in float32, bfloat16 and a second random checkpoint): its Most
    different items table was 838 px wide in the 768 px column of an 800 px window, the embedding cosine scrolled out
    of sight.  Measured in Chromium, with the demo set's ids and labels."""
    import pandas as pd
    from workbench.analysis.compare.items import disagreement_html

    ids = ["dialogue_turn05", "angry_en_48k_stereo", "spk_m2_neutral_3", "happy_zh_noisy5db", "surprised_en"]
    rows = [{"run_a": a, "run_b": b, "variant": "raw", "id": i, "emotion": "surprised", "pred_a": "disgusted",
             "confidence_a": 0.1783, "pred_b": "surprised", "confidence_b": 0.2712, "tvd": 0.3172, "max_abs_delta": 0.1897,
             "cosine": 0.99991} for a, b in (("A", "B"), ("A", "C"), ("B", "C")) for i in ids]
    for scroll, client, text in _page_widths(tmp_path, disagreement_html(pd.DataFrame(rows), 10), 800):
        assert scroll <= client, f"the table is {scroll} px wide in a {client} px box: it scrolls"
        assert "embedding cosine" in text and "0.9999" in text and "angry_en_48k_stereo" in text.replace("\n", "")


def test_a_report_header_says_the_run_was_scored_by_a_fine_tuned_head_its_classes_and_its_random_parent(tmp_path):
    """The experiment report of a run scored by a head trained for four classes of one's own (bright, calm, low, tense)
    on a random checkpoint named only the head's folder on its model line: it read as any checkpoint."""
    from types import SimpleNamespace

    from workbench.views.provenance import model_item

    head = tmp_path / "heads" / "h4<b>"
    head.mkdir(parents=True)
    card = {"parent": {"id": "random-tiny", "random_weights": True}, "labels": {"classes": ["bright", "calm", "low", "<i>tense"]}}
    (head / "training_card.json").write_text(json.dumps(card))
    model = {"id": str(head), "parameters": 51927, "device": "cpu", "dtype": "onnx-int8", "checksum": "b6d5543531d34102aa"}
    rf = SimpleNamespace(model_ref=model, model=lambda: SimpleNamespace(model=str(head)), random_weights=True)
    line = model_item(rf)
    assert "a head <code>workbench finetune</code> trained for 4 classes (bright, calm, low, &lt;i&gt;tense)" in line, line
    assert "on the embeddings of <code>random-tiny</code>" in line and "RANDOM WEIGHTS" in line and "h4&lt;b&gt;" in line
    (head / "training_card.json").unlink()  # a copy of the project without the checkpoint folder: the plain line
    assert model_item(rf).endswith("checksum <code>b6d5543531d34102</code>"), model_item(rf)


def test_the_checkpoint_comparison_probes_a_head_and_its_parent_on_the_corpus_labels_by_default():
    """The report of a base run against its head's run (four classes of one's own) probed each run's `emotion` column:
    the base run's was empty ('Probe not evaluated: … no row has a 'emotion' value'), while the head's run's probe on
    bright/calm/low/tense was said to "repeat run A's" — a probe that had not run.  Only the corpus's labels are one
    target for both, so the default takes them where a run is a head of another; an explicit target is kept."""
    from types import SimpleNamespace

    from workbench.views import reporting

    nb = json.loads((Path(reporting.__file__).parent.parent / "templates" / "checkpoint_comparison.ipynb").read_text())
    (cell,) = ["".join(c["source"]) for c in nb["cells"] if "R.probe_section" in "".join(c["source"])]
    (params,) = ["".join(c["source"]) for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert "\nprobe_target = None" in "\n" + params
    head_runs = [{"name": "A", "encoder_checksum": "e" * 16, "weights_checksum": "e" * 16},
                 {"name": "B", "encoder_checksum": "e" * 16, "weights_checksum": "b" * 16}]  # B: a head-only fine-tune of A
    other_runs = [{"name": "A", "encoder_checksum": "e" * 16, "weights_checksum": "e" * 16},
                  {"name": "B", "encoder_checksum": "f" * 16, "weights_checksum": "f" * 16}]
    for runs, given, expected in ((head_runs, None, "label"), (other_runs, None, "emotion"), (head_runs, "emotion", "emotion")):
        targets = []
        fake = SimpleNamespace(shared_encoder_note=reporting.shared_encoder_note, esc=reporting.esc,
                               probe_section=lambda run_dir, **kw: (targets.append(kw["target"]), ("", None))[1])
        scope = {"R": fake, "cmp": SimpleNamespace(runs=[dict(r, run_dir=r["name"]) for r in runs]), "probe_scheme": "speaker",
                 "probe_folds": 2, "probe_target": given, "n_boot": 20, "HTML": str, "display": lambda h: None}
        exec(cell, scope)
        assert targets == [expected, expected], (runs, given, targets)


def test_segment_names_the_model_and_says_a_head_and_its_random_parent(tmp_path):
    """`workbench segment LONG.wav --model heads/h4` printed a timeline of tense/calm/low spans and named no model: a
    head's own labels on a random parent read as a checkpoint's."""
    from workbench.cli.signals import model_words

    head = tmp_path / "h4"
    head.mkdir()
    model = {"id": str(head), "dtype": "onnx-int8", "labels": ["bright", "calm", "low", "tense"]}
    assert model_words(model) == f"model: {head} (onnx-int8), classes bright, calm, low, tense"
    (head / "training_card.json").write_text(json.dumps({"parent": {"id": "random-tiny", "random_weights": True}}))
    assert model_words(model).endswith(": a head `workbench finetune` trained on the embeddings of random-tiny "
                                       "(RANDOM WEIGHTS: the head means nothing either)"), model_words(model)
    assert model_words({"id": "heads/h4 (onnx float32)"}) == "model: heads/h4 (onnx float32) (?), classes ?"


def test_worst_cases_say_a_label_outside_the_models_classes_instead_of_true_dash(tmp_path, monkeypatch):
    """The experiment report of the base run of a manifest labelled bright/calm/low/tense (before a head is trained)
    listed its worst items as "dialogue_turn05 — true —": an item labelled tense read as unlabelled."""
    from test_probe import synthetic_row, write_run
    from workbench.views import reporting

    rows = [{**synthetic_row("t<1>", emotion="", label="tense<b>", pred="sad"), "margin": 0.01},
            {**synthetic_row("u2", emotion="", label="", pred="sad"), "margin": 0.01},
            {**synthetic_row("h3", emotion="happy", pred="sad"), "margin": 0.01}]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 3)
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.worst_cases(rf.path, n=5)  # one labelled row, wrong: the wrong ones are shown
    assert any("<b>h3</b> — true <i>happy</i>, predicted" in h for h in shown), shown
    shown.clear()
    reporting.worst_cases(write_run(tmp_path / "run2", rows[:2], [[1.0, 0.0]] * 2).path, n=5)  # none scorable: the least confident
    assert any("<b>t&lt;1&gt;</b> — labelled <i>tense&lt;b&gt;</i>, none of the model's classes, predicted" in h for h in shown), shown
    assert any("<b>u2</b> — true <i>—</i>, predicted" in h for h in shown), shown
