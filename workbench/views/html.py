"""HTML pieces of the reports: every string from data goes through :func:`esc`; :func:`notebook_html` turns an
executed notebook into one self-contained page (markdown and text escaped, the sections' own HTML kept)."""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from workbench.errors import html_text
from workbench.model.network import RANDOM_WEIGHTS_BANNER


class Markup(str):
    """A string of HTML that is safe as it is (built here, its data escaped).  Two of them joined with ``+`` stay one
    (a plain ``str`` was what ``+`` gave back, so the report's conformal table escaped its own "<b>FAILED …</b>" and
    showed the tags); a plain string added to one gives a plain string, as before."""

    def __add__(self, other: Any) -> Any:
        joined = str.__add__(self, other)
        return Markup(joined) if isinstance(other, Markup) else joined




def esc(value: Any) -> Markup:
    """``value`` as text inside HTML: ``<``, ``>``, ``&`` and both quotes escaped; control characters and the
    bidirectional controls shown as their escapes (``\\x1b``, ``\\u202e``), as the terminal shows them."""
    if isinstance(value, Markup):
        return value
    return Markup(html_text(value))


#: a terminal's colour and style codes (SGR: ``ESC[31m``, ``ESC[1;4m``, ``ESC[0m``; the one-byte CSI ``\x9b`` too), which
#: a notebook's text output keeps (a coloured log line, a library's warning): a page drops them, as a terminal hides them
_COLOUR_CODES = re.compile("(?:\x1b\\[|\x9b)[0-9;:]*m")


def output_text(value: Any) -> Markup:
    """A notebook's text output inside ``<pre>``: colour codes dropped, then :func:`esc` (any other escape sequence,
    which would move the cursor or clear a terminal, is shown as its escape)."""
    return esc(_COLOUR_CODES.sub("", "" if value is None else str(value)))


def code(value: Any) -> Markup:
    return Markup(f"<code>{esc(value)}</code>")


def prose(value: Any) -> Markup:
    """``value`` as text inside HTML, its `backticked` spans (commands, file names in the screen's words) as ``<code>``:
    the sentences the CLI prints reach a report without their markdown showing."""
    if isinstance(value, Markup):
        return value
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(value)))


def fmt(value: Any, digits: int = 3) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None or type(value).__name__ == "NAType":  # pandas' missing value prints as <NA>
        return esc("—")
    if isinstance(value, float):
        return esc("—" if value != value else f"{value:.{digits}f}")
    return esc(value)


def table_html(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, digits: int = 3) -> Markup:
    """An HTML table; cells are escaped unless they are :class:`Markup`, floats shown with ``digits`` decimals."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c, digits)}</td>" for c in r) + "</tr>" for r in rows)
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def frame_html(df, *, digits: int = 4) -> Markup:
    """A DataFrame as an escaped HTML table (no index)."""
    return table_html(list(df.columns), df.itertuples(index=False), digits=digits)


def banner_html() -> Markup:
    return Markup("<div class='wb-banner' style='background:#fee;border-left:4px solid #c00;padding:6px 12px'>"
                  f"<b>⚠ {esc(RANDOM_WEIGHTS_BANNER)}</b> Every number in this report is meaningless; "
                  "it only shows the report works.</div>")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0;display:block;max-width:100%;overflow-x:auto;border:0;width:fit-content}td,th{border:1px solid #ccc;padding:3px 8px;font-size:14px;text-align:left}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap}img{max-width:100%}
blockquote{background:#fee;border-left:4px solid #c00;margin:0;padding:6px 12px}
@media (max-width:900px){td,th{font-size:12px;padding:2px 5px}
table:has(tr>:nth-child(8)) :is(td,th){font-size:11px;padding:2px 3px}}
@media print{body{max-width:none;margin:0;padding:0}table{display:table;width:auto;max-width:100%}
td,th{font-size:11px;padding:2px 4px;overflow-wrap:anywhere}img,tr,pre{break-inside:avoid}}
"""
# a table of 8 columns or more at 800 px takes print's 11 px: the checkpoint comparison's agreement, flips and most
# different tables of three runs were 784-838 px in the 768 px column, the explained-worst table 812 px.
# the last two rules: at 800 px the explained-worst table (9 columns) and the sweep's table scrolled sideways, and
# printed (A4) a table's scroll box was cut at the page's edge: its last columns were not on paper at all


#: an ipywidgets view in a notebook's outputs, and what a static page shows in its place
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class='wb-widget'><i>[An interactive widget: it runs only in a live notebook. Open this notebook in "
               "JupyterLab (<code>jupyter lab</code>) to use it; a static page cannot show it.]</i></p>")


def widget_note(notebook: str | None = None) -> str:
    """What a static page shows for a widget; with ``notebook`` (the executed notebook's file name, beside the page) the
    note names the file to open and the command: "open this notebook" on a page left a newcomer looking for which."""
    if not notebook:
        return WIDGET_NOTE
    return ("<p class='wb-widget'><i>[An interactive widget: it runs only in a live notebook. Open this page's notebook, "
            f"<code>{esc(notebook)}</code> in this page's folder, in JupyterLab (<code>jupyter lab {esc(notebook)}</code>, "
            "run from that folder) to use it; a static page cannot show it.]</i></p>")


#: a table cell holding one long token with slashes (a run folder's absolute path): a line may break after
#: each slash.  Unbroken, the checkpoint comparison's Runs table was wider than the page and hid its last column
#: behind a scroll bar
_LONG_PATH = re.compile(r"(<td>)([^<\s]{40,})(</td>)")


#: a table cell's text, and in it a long id of words joined by ``_`` (``angry_en_48k_stereo``, ``speech_at_sample_0``):
#: a line may break after each ``_``.  Unbroken, the checkpoint comparison's "Most different items" table (12 columns)
#: was 816-830 px wide in the 768 px column of an 800 px window, and its last column (the embedding cosine) was behind
#: a scroll bar
_CELL_TEXT = re.compile(r"(<td>)([^<]+)(</td>)")
_LONG_ID = re.compile(r"[^\s/]{12,}")
_WORD_JOIN = re.compile(r"(?<=[^_])_(?=[^_])")  # an ``_`` between two words, not one that starts or ends the id


def breakable_paths(html: str) -> str:
    """``html`` with a ``<wbr>`` after each ``/`` of a long path and each ``_`` of a long id that is a whole table cell."""
    html = _LONG_PATH.sub(lambda m: m.group(1) + m.group(2).replace("/", "/<wbr>") + m.group(3) if "/" in m.group(2) else m.group(0), html)
    return _CELL_TEXT.sub(lambda m: m.group(1) + _LONG_ID.sub(lambda t: _WORD_JOIN.sub("_<wbr>", t.group(0)), m.group(2)) + m.group(3), html)


def notebook_html(nb, *, title: str, random_weights: bool = False, overlap: Sequence[tuple[str, str]] = (),
                  notebook: str | None = None) -> str:
    """One self-contained HTML page: markdown, HTML, text, images and audio from the outputs; code hidden.

    Markdown (cells and outputs) is rendered with raw HTML escaped; ``text/html``
    outputs are the sections' own HTML, whose data :func:`esc` escaped; text
    outputs are escaped, their terminal colour codes dropped.  ``random_weights``: the report read a run scored with
    random weights, so the page says so first (once: a section that shows the banner itself keeps its own).
    ``overlap``: the training-data warnings of the runs it read, ``(run, warning)``, said under that banner unless a
    section says the warning itself.  ``notebook``: the executed notebook's file name beside the page, named in the note
    shown for each widget (:func:`widget_note`).
    """
    import mistune

    render = mistune.create_markdown(plugins=["table", "strikethrough"], escape=True)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style></head><body>"]
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            parts.append(render(cell.source))
            continue
        if cell.cell_type != "code" or "parameters" in tags or "injected-parameters" in tags:
            continue
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(f"<pre>{output_text(o.text)}</pre>")
            elif o.output_type == "error":
                parts.append(f"<pre style='color:#c00'>{esc(o.ename)}: {output_text(o.evalue)}</pre>")
            elif o.output_type in ("display_data", "execute_result"):
                data = o.get("data", {})
                if "image/png" in data:
                    parts.append(f"<img src='data:image/png;base64,{esc(''.join(data['image/png'].split()))}'>")
                elif "text/html" in data:
                    parts.append(breakable_paths(data["text/html"]))
                elif "text/markdown" in data:
                    parts.append(render(data["text/markdown"]))
                elif WIDGET_MIME in data:  # its text/plain is the widget's Python repr ("VBox(children=(HTML(value=…")
                    parts.append(widget_note(notebook))
                elif "text/plain" in data:
                    parts.append(f"<pre>{output_text(data['text/plain'])}</pre>")
    unsaid = [run + w for run, w in overlap if not any(esc(w) in p for p in parts)]
    if unsaid:
        parts.insert(1, "<blockquote>" + "".join(f"<p><b>⚠ {esc(w)}</b></p>" for w in unsaid) + "</blockquote>")
    if random_weights and not any("class='wb-banner'" in p for p in parts):
        parts.insert(1, banner_html())
    parts.append("</body></html>")
    return "\n".join(parts)
