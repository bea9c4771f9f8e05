"""Stored XSS: data that reaches a report must show as text, never run.

A run is made on a few synthetic WAVs whose manifest ids, speakers, genders,
transcripts, labels, file names and a variant name carry HTML/script payloads;
an item whose file is not audio puts its (payload) path into an error message.
The experiment report is rendered as ``workbench report`` renders it, then

* the HTML is parsed: no element or attribute that a payload would add
  (``<script>``, ``<svg>``, ``<iframe>``, ``on*=`` handlers, images that are not
  our embedded PNGs, ``javascript:`` links), and the payloads appear escaped;
* the same holds for every HTML output of the executed notebook;
* Debian's Chromium, driven headless by Playwright, opens the page: the title
  stays, no dialog opens, no console error, no payload element exists, and the
  payload text is visible as text.  A screenshot goes to
  ``reports/browser_test/report_xss.png``.
"""

from __future__ import annotations

import csv
import html
from html.parser import HTMLParser

import nbformat
import pytest
import soundfile as sf

from conftest import speech_like
from test_browser import CHROMIUM, _browser_or_skip, _screenshot_dir

PAYLOADS = [
    "<img src=x onerror=\"document.title='pwned'\">",
    "<script>document.title='pwned'</script>",
    "\"><svg onload=\"document.title='pwned'\">",
    "'><iframe srcdoc=\"<script>parent.document.title='pwned'</script>\"></iframe>",
    "[click](javascript:document.title='pwned') <b onmouseover=\"document.title='pwned'\">x</b>",
]
BAD_TAGS = {"script", "svg", "iframe", "object", "embed", "link", "meta-refresh", "base", "form"}


class _Audit(HTMLParser):
    """Collects what a payload would add: dangerous tags, event handlers, foreign images, script URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in BAD_TAGS:
            self.problems.append(f"<{tag}>")
        for k, v in attrs:
            if k.lower().startswith("on"):
                self.problems.append(f"<{tag} {k}=…>")
            if k.lower() in ("href", "src", "srcdoc", "action") and v and v.strip().lower().startswith(("javascript:", "vbscript:")):
                self.problems.append(f"<{tag} {k}={v[:30]}…>")
        if tag == "img" and not (dict(attrs).get("src") or "").startswith("data:image/png;base64,"):
            self.problems.append(f"<img src={dict(attrs).get('src')!r}>")

    def handle_data(self, data):
        self.text.append(data)


def audit(markup: str) -> _Audit:
    a = _Audit()
    a.feed(markup)
    a.close()
    return a


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory, tiny_model):
    from workbench.views.reporting import run_report
    from workbench.runs.driver import RAW, Variant, run

    tmp = tmp_path_factory.mktemp("xss")
    audio = tmp / "audio"
    audio.mkdir()
    rows = []
    labels = ["happy", "sad", "angry", "neutral"]
    for i in range(8):
        p = PAYLOADS[i % len(PAYLOADS)]
        # file names carry payloads too (no '/' in a file name)
        name = f"clip{i}_{p.replace('/', '')}.wav"
        sf.write(audio / name, speech_like(16000, 1.5, seed=i), 16000, subtype="PCM_16")
        rows.append({"id": f"item{i}{p}", "path": str(audio / name), "label": labels[i % 4], "text": f"said {p} here",
                     "speaker": f"spk{i % 3}{PAYLOADS[(i + 1) % len(PAYLOADS)]}", "gender": PAYLOADS[(i + 2) % len(PAYLOADS)]})
    # not audio: its failed row's error message names the (payload) path
    bad = audio / f"broken_{PAYLOADS[0]}.wav"
    bad.write_bytes(b"this is not audio at all" * 20)
    rows.append({"id": f"broken{PAYLOADS[2]}", "path": str(bad), "label": "happy", "text": "x", "speaker": "spk0", "gender": "f"})
    manifest = tmp / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    run_dir = tmp / "run"
    run(manifest, out_dir=run_dir, model=tiny_model, variants=[RAW, Variant(f"v{PAYLOADS[1]}", ({"name": "gain", "db": -3.0},))],
        cache_dir=tmp / "cache")
    paths = run_report("experiment_report", {"run_dir": str(run_dir), "title": f"Report {PAYLOADS[0]}"}, out=tmp / "reports")
    return paths


def test_report_html_has_no_live_payload(hostile_report):
    page = hostile_report["html"].read_text(encoding="utf-8")
    a = audit(page)
    assert not a.problems, a.problems
    for p in PAYLOADS:
        assert p not in page
    # the strings are there, as text: escaped in the source, literal in what the browser shows
    text = "".join(a.text)
    assert html.escape(PAYLOADS[0], quote=True) in page
    assert "item0<img src=x onerror=" in text and "spk0<script>" in text and "broken\"><svg onload=" in text
    assert "Report <img src=x" in text  # the title parameter too
    assert "failed rows" in text and f"broken_{PAYLOADS[0]}" in text  # the failed row's error names the file


def test_executed_notebook_html_outputs_are_escaped(hostile_report):
    nb = nbformat.read(hostile_report["notebook"], as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    html_outputs = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert html_outputs
    for markup in html_outputs:
        assert not audit(markup).problems, markup[:300]
    for o in outputs:  # Markdown outputs are fixed text only: no data in them
        for p in PAYLOADS:
            assert p not in o.get("data", {}).get("text/markdown", "")
            assert p not in o.get("text", "")


@pytest.mark.browser
def test_report_in_chromium_runs_no_payload(hostile_report):
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    dialogs, console_errors, page_errors = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def on_dialog(d):
                dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", on_dialog)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(hostile_report["html"].resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(1500)  # onerror/onload handlers fire after load
            # hover over everything a payload could have made hoverable
            for el in page.locator("td, li, p, b").all()[:200]:
                el.hover(timeout=2000)
            title = page.title()
            injected = page.evaluate("document.querySelectorAll('script, svg, iframe, [onerror], [onload], [onmouseover]').length")
            visible = page.locator("body").inner_text()
            shot = _screenshot_dir() / "report_xss.png"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot), full_page=False)
            page.locator("p", has_text="failed rows").last.scroll_into_view_if_needed()
            page.screenshot(path=str(shot.with_name("report_xss_failed_rows.png")), full_page=False)
        finally:
            browser.close()
    assert title == "experiment_report", title
    assert not dialogs and not page_errors, (dialogs, page_errors)
    assert not console_errors, console_errors
    assert injected == 0
    assert "item0<img src=x onerror=" in visible and "<script>document.title='pwned'</script>" in visible


def test_colour_codes_in_a_notebooks_text_output_are_dropped_not_shown_as_text():
    """A coloured line in a notebook's output ("\\x1b[31mred\\x1b[0m", as a logger or a library's warning prints it) read
    "\\x1b[31mred\\x1b[0m" on the report page.  The colour codes are dropped; any other escape sequence (one that would
    clear a terminal) is still shown as its escape, and the text is still escaped."""
    from workbench.views.html import notebook_html

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="\x1b[31mred\x1b[0m and \x1b[1;4mbold\x1b[m <b>\x1b[2J\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "\x1b[32mgreen\x1b[0m"}, execution_count=1),
        nbformat.v4.new_output("error", ename="ValueError", evalue="\x1b[0;31mbad value\x1b[0m", traceback=[]),
    ])])
    page = notebook_html(nb, title="t")
    assert "<pre>red and bold &lt;b&gt;\\x1b[2J\n</pre>" in page, page
    assert "<pre>green</pre>" in page and "ValueError: bad value</pre>" in page, page
    assert "\x1b" not in page and "[31m" not in page and "[0m" not in page, page
