"""A widget notebook made into a page (`workbench report notebooks/03_low_confidence_cases.ipynb`) showed the
widget's Python repr ("VBox(children=(HTML(value=\"<div style=…") as the page's content."""

from __future__ import annotations

import nbformat

from workbench.views.html import notebook_html


def test_a_widget_output_is_named_as_a_widget_to_open_in_jupyter_not_shown_as_its_repr():
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
              "text/plain": "VBox(children=(HTML(value=\"<div style='background:#fdd'>RANDOM WEIGHTS: t…"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("browser", outputs=[
        nbformat.v4.new_output("display_data", data=widget),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1),
    ])])
    page = notebook_html(nb, title="t")
    assert "VBox(children" not in page, page
    assert "An interactive widget: it runs only in a live notebook" in page and "jupyter lab" in page, page
    assert "<pre>42</pre>" in page  # plain text outputs are shown as before
