"""A user's path through a widget notebook, in a real browser.

JupyterLab is started on localhost (token on) with a copy of a notebook and
its parameters injected; Debian's Chromium, driven headless by Playwright,
opens it and runs all cells through the menu.

* ``03_low_confidence_cases`` on a run of the demo set under two variants:
  move the confidence threshold, open the least confident item, then a
  ``telephone`` item, and check what is shown against the run's results table
  (the variant, its chain, its stored scores).
* ``05_long_audio`` on a segmented file: click a span of the plotly timeline;
  that span plays and the detail line names it.

Screenshots of each widget after the interaction are kept in
``reports/browser_test/`` (or ``$WORKBENCH_SCREENSHOTS``).

Chromium cannot be downloaded by Playwright here; the system one is used.
Without it the test is skipped, unless ``WORKBENCH_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs it), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
NOTEBOOKS = REPO / "notebooks"


def _browser_or_skip():
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("WORKBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + "; WORKBENCH_REQUIRE_BROWSER=1 says it must run here")
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _jupyterlab(tmp_path, notebook: Path, parameters: dict):
    """JupyterLab serving a copy of ``notebook`` with ``parameters`` injected (nothing executed: the browser runs the cells)."""
    import papermill as pm

    work = tmp_path / "lab"
    work.mkdir()
    pm.execute_notebook(str(notebook), str(work / notebook.name), parameters=parameters, prepare_only=True,
                        progress_bar=False, kernel_name="python3")
    token, port = secrets.token_hex(16), _free_port()
    home = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "MPLBACKEND": "Agg"}
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        # the token is required: without it the API refuses
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/contents", timeout=5)
        assert refused.value.code == 403
        yield {"url": f"{base}/lab/tree/{notebook.name}?token={token}", "log": tmp_path / "jupyterlab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def lab(tmp_path, tiny_model):
    """A run of the demo set under raw and telephone, and notebook 03 pointed at it."""
    _browser_or_skip()
    from workbench.runs.driver import Variant, run

    run_dir = tmp_path / "run"
    run(REPO / "workbench" / "demo_data" / "manifest.csv", out_dir=run_dir, model=tiny_model, cache_dir=tmp_path / "cache",
        variants=[Variant("raw"), Variant("telephone", ({"name": "telephone"},))])
    with _jupyterlab(tmp_path, NOTEBOOKS / "03_low_confidence_cases.ipynb", {"run_dir": str(run_dir)}) as served:
        yield {**served, "run_dir": run_dir}


@pytest.fixture
def long_lab(tmp_path, tiny_model):
    """A long file of demo clips with pauses, segmented, and notebook 05 pointed at the segment folder."""
    _browser_or_skip()
    import numpy as np
    import soundfile as sf

    from workbench.audio.intake import load
    from workbench.runs.longform import SegmentConfig, segment_file

    clips = [load(p).samples for p in sorted((REPO / "workbench" / "demo_data").glob("*.wav")) if "tone" not in p.name][:4]
    pause = np.zeros(24000, np.float32)
    sf.write(tmp_path / "long.wav", np.concatenate([x for c in clips for x in (pause, c)] + [pause]), 16000)
    seg = segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"))
    with _jupyterlab(tmp_path, NOTEBOOKS / "05_long_audio.ipynb", {"segment_dir": str(seg.out_dir)}) as served:
        yield {**served, "segment_dir": seg.out_dir, "wav": tmp_path / "long.wav"}


def _screenshot_dir() -> Path:
    d = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or REPO / "reports" / "browser_test")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run_all_cells(page, url: str):
    """Open the notebook, wait for its kernel, and run Run ▸ Run All Cells as a user would."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=90_000)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=90_000)

    def accept_kernel_dialog():
        # JupyterLab sometimes starts two kernels for a freshly opened notebook, drops one and asks which kernel
        # to use; the user's answer is the default (Python 3), so is ours
        page.wait_for_timeout(1500)
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            dialog.locator(".jp-mod-accept").first.click()
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=90_000)

    accept_kernel_dialog()
    for attempt in range(3):  # focus a cell first: the menu acts on the current notebook
        page.locator(".jp-CodeCell .jp-InputArea-editor").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            expect(page.locator(".jp-InputArea-prompt", has_text=re.compile(r"\[(\*|\d+)\]"))).not_to_have_count(0, timeout=15_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            accept_kernel_dialog()
    # every cell has run (the kernel handles the widgets' messages only after the last one)
    expect(page.locator(".jp-InputArea-prompt", has_text="[*]")).to_have_count(0, timeout=240_000)


@contextlib.contextmanager
def _chromium(shots: Path, name: str):
    """A headless Chromium page; on failure, a screenshot and the page text for whoever reads the failure."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_default_timeout(60_000)
            try:
                yield page
            except BaseException:
                page.screenshot(path=str(shots / f"{name}_failure.png"), full_page=True)
                (shots / f"{name}_failure.txt").write_text(page.locator("body").inner_text(), encoding="utf-8")
                raise
        finally:
            browser.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def _no_cell_raised(page):
    assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").filter(
        has_text="Error").count(), "a cell raised"


def test_low_confidence_notebook_in_jupyterlab_with_chromium(lab):
    import pandas as pd
    from playwright.sync_api import expect

    from workbench.labels import LABEL_KEYS
    from workbench.runs.folder import RunFolder

    results = pd.read_parquet(lab["run_dir"] / "results.parquet")
    ok = results[results["status"] == "ok"]
    shots = _screenshot_dir()
    with _chromium(shots, "low_confidence") as page:
        _run_all_cells(page, lab["url"])
        area = page.locator(".jp-OutputArea-output")
        count = area.locator(".widget-html-content", has_text=re.compile(r"of \d+ items"))
        expect(count).to_have_count(1, timeout=180_000)
        _no_cell_raised(page)
        expect(area.get_by_text("RANDOM WEIGHTS", exact=False).first).to_be_visible()
        # the threshold the notebook opens with (0.6): the count matches the table
        conf = ok["confidence"].astype(float).to_numpy()
        below = lambda t: int((conf < t).sum())  # noqa: E731
        expect(count).to_contain_text(f"{below(0.6)} of {len(ok)} items")
        page.screenshot(path=str(shots / "low_confidence_opened.png"), full_page=True)

        # move the threshold to one that splits the items: type into the slider's readout
        t = min((k / 100 for k in range(1, 99)), key=lambda t: abs(below(t) - len(ok) / 2))
        readout = area.locator(".widget-slider .widget-readout").first
        select = area.locator(".widget-select select").first
        options = select.locator("option")

        def type_threshold(value: float):
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(f"{value:.2f}")
            page.keyboard.press("Enter")
            expect(readout).to_have_text(f"{value:.2f}")

        type_threshold(t)
        expect(count).to_contain_text(f"{below(t)} of {len(ok)} items")
        expect(options).to_have_count(below(t))
        assert 0 < below(t) < len(ok), "the demo run should let the threshold split its items"
        # …and nudge it with the keyboard on the slider's handle (step 0.01)
        area.locator(".widget-slider .noUi-handle").first.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        t3 = round(t + 0.03, 2)
        expect(readout).to_have_text(f"{t3:.2f}")
        expect(count).to_contain_text(f"{below(t3)} of {len(ok)} items")
        expect(options).to_have_count(below(t3))
        type_threshold(1.0)
        expect(options).to_have_count(below(1.0))

        # select the least confident item: its player, figure, findings and neighbours appear
        worst = ok.sort_values("confidence").iloc[0]
        shown = options.first.inner_text().replace("\xa0", " ")  # the widget renders spaces as &nbsp;
        assert shown.startswith(f"{worst['id']} [{worst['variant']}]"), shown
        select.select_option(index=0)
        # the first item loads the model: the view says it is working while it does
        expect(area.locator(".widget-html-content", has_text=f"working… opening {worst['id']} [{worst['variant']}]")
               .locator(".wb-spinner")).to_have_count(1, timeout=10_000)
        detail = area.locator(".widget-html-content", has_text="nearest neighbours")
        expect(detail).to_have_count(1, timeout=120_000)
        expect(detail).to_contain_text(f"{worst['id']} [{worst['variant']}]")
        expect(detail).to_contain_text(f"predicted {worst['pred']}")
        expect(detail).to_contain_text(f"({worst['confidence']:.3f}")
        browser_widget = area.locator(".widget-vbox", has=page.locator(".widget-html-content", has_text=re.compile(r"of \d+ items"))).first
        expect(browser_widget.locator("audio")).to_have_count(1)
        expect(browser_widget.locator("img")).to_have_count(1)
        assert browser_widget.locator("img").evaluate("i => i.naturalWidth") > 300, "the figure did not render"
        neigh = [li.split(":")[0] for li in detail.locator("ul").last.locator("li").all_inner_texts()]
        n_variant = int((ok["variant"] == worst["variant"]).sum())
        assert len(neigh) == min(5, n_variant - 1) and worst["id"] not in neigh and set(neigh) <= set(ok["id"]), neigh
        codes = [c for c in str(worst["finding_codes"]).split(",") if c]
        for c in codes:  # each finding is listed with its suggestion
            expect(detail).to_contain_text(c)
        detail.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "low_confidence_item.png"))
        browser_widget.screenshot(path=str(shots / "low_confidence_widget.png"))

        # a variant item: only telephone rows listed; open one; the view names its chain and shows its stored scores
        area.locator(".widget-dropdown", has_text="variant").locator("select").select_option("telephone")
        tel = ok[ok["variant"] == "telephone"].sort_values("confidence")
        expect(options).to_have_count(len(tel))
        raw_scores = ok[ok["variant"] == "raw"].set_index("id")
        differs = lambda r: any(f"{r[f'score_{k}']:.4f}" != f"{raw_scores.loc[r['id'], f'score_{k}']:.4f}" for k in LABEL_KEYS)  # noqa: E731
        item = next(r for _, r in tel.iterrows() if differs(r))  # the least confident whose scores the telephone chain changed
        labels = [o.replace("\xa0", " ") for o in options.all_inner_texts()]
        index = next(j for j, o in enumerate(labels) if o.startswith(f"{item['id']} [telephone]"))
        select.select_option(index=index)
        expect(detail).to_contain_text(f"{item['id']} [telephone]", timeout=120_000)
        expect(detail).to_contain_text("variant telephone (telephone low_hz=")  # typed steps show their parameters
        expect(detail).to_contain_text(f"predicted {item['pred']}")
        expect(detail).to_contain_text(f"({item['confidence']:.3f}")
        for k in LABEL_KEYS:  # the stored scores of the telephone row, not of the raw one
            expect(detail).to_contain_text(f"{k} {item[f'score_{k}']:.4f}")
        expect(detail).to_contain_text("match the row")
        expect(browser_widget.locator("audio")).to_have_count(1)
        assert any(f"{k} {raw_scores.loc[item['id'], f'score_{k}']:.4f}" not in detail.inner_text() for k in LABEL_KEYS)
        # the player holds the audio the row was scored on (its segment of the file, through the telephone chain, 16 kHz)
        scored = RunFolder.open(lab["run_dir"]).scored_audio(item)
        player = browser_widget.locator("audio")
        page.wait_for_function("a => a.readyState >= 1", arg=player.element_handle())
        assert abs(player.evaluate("a => a.duration") - scored.duration) < 1e-3
        detail.scroll_into_view_if_needed()
        browser_widget.screenshot(path=str(shots / "low_confidence_variant_item.png"))

        # the embedding map under the browser: a plotly figure with one point per item of the first variant
        plot = area.locator(".js-plotly-plot").first
        expect(plot).to_be_visible(timeout=60_000)
        expect(plot.locator(".scatterlayer .point")).to_have_count(int((ok["variant"] == "raw").sum()))
        # click a point, as a user would: the browser above opens that item
        x_px, y_px, text = plot.evaluate(
            "el => { const L = el._fullLayout, t = el.data[0];"
            " return [L.xaxis._offset + L.xaxis.l2p(t.x[0]), L.yaxis._offset + L.yaxis.l2p(t.y[0]), t.text[0]]; }")
        clicked = text.split(":")[0]
        plot.scroll_into_view_if_needed()
        box = plot.bounding_box()
        page.mouse.move(box["x"] + x_px, box["y"] + y_px)
        expect(page.locator(".hoverlayer .hovertext")).to_have_count(1)  # plotly shows the point's label…
        page.mouse.click(box["x"] + x_px, box["y"] + y_px)  # …and reports the click to the kernel
        expect(detail).to_contain_text(f"{clicked} [raw]", timeout=120_000)
        expect(detail).to_contain_text("variant raw (no steps)")
        plot.screenshot(path=str(shots / "embedding_map.png"))
    assert (shots / "low_confidence_widget.png").stat().st_size > 20_000


def test_long_audio_notebook_click_on_the_timeline_plays_the_span(long_lab):
    import pandas as pd
    from playwright.sync_api import expect

    timeline = pd.read_csv(long_lab["segment_dir"] / "timeline.csv")
    assert len(timeline) >= 2
    shots = _screenshot_dir()
    with _chromium(shots, "long_audio") as page:
        _run_all_cells(page, long_lab["url"])
        area = page.locator(".jp-OutputArea-output")
        plot = area.locator(".js-plotly-plot").first
        expect(plot).to_be_visible(timeout=180_000)
        _no_cell_raised(page)
        expect(area.get_by_text("RANDOM WEIGHTS", exact=False).first).to_be_visible()
        bars = plot.locator(".barlayer .point")
        expect(bars).to_have_count(len(timeline))
        now = area.locator(".widget-html-content", has_text="playing")
        expect(now).to_have_count(0)
        def click_at(t: float, axes: str, y):
            """Click the plot where time ``t`` (s) and ``y`` fall on the axes ``axes`` ('x/y' or 'x2/y2')."""
            xa, ya = axes.replace("x", "xaxis").replace("y", "yaxis").split("/")
            x_px, y_px = plot.evaluate(
                "(el, a) => { const L = el._fullLayout, xa = L[a[0]], ya = L[a[1]];"
                " return [xa._offset + xa.l2p(a[2]), ya._offset + ya.l2p(ya.d2l(a[3]))]; }", [xa, ya, t, y])
            plot.scroll_into_view_if_needed()
            box = plot.bounding_box()
            page.mouse.move(box["x"] + x_px, box["y"] + y_px)
            page.mouse.click(box["x"] + x_px, box["y"] + y_px)

        # click the middle of the second span of the timeline, as a user would
        i = 1
        r = timeline.iloc[i]
        click_at((r["start"] + r["end"]) / 2, "x2/y2", "spans")
        expect(now).to_have_count(1, timeout=60_000)
        expect(now).to_contain_text(f"span {i}: {r['start']:.2f}–{r['end']:.2f} s")
        audio = area.locator("audio")
        expect(audio).to_have_count(1)
        # the player holds that span: its duration is the span's
        page.wait_for_function("a => a.readyState >= 1", arg=audio.element_handle())
        assert abs(audio.evaluate("a => a.duration") - (r["end"] - r["start"])) < 0.02
        area.locator(".widget-vbox").first.screenshot(path=str(shots / "long_audio_span_clicked.png"))
        # a click on the heatmap inside the first span plays the first span
        r0 = timeline.iloc[0]
        click_at((r0["start"] + r0["end"]) / 2, "x/y", "neutral")
        expect(now).to_contain_text(f"span 0: {r0['start']:.2f}–{r0['end']:.2f} s", timeout=60_000)
        page.wait_for_function("a => a.readyState >= 1", arg=area.locator("audio").element_handle())
        assert abs(area.locator("audio").evaluate("a => a.duration") - (r0["end"] - r0["start"])) < 0.02
        area.locator(".widget-vbox").first.screenshot(path=str(shots / "long_audio_widget.png"))


@pytest.fixture
def small_lab(request, tmp_path, tiny_model):
    """Notebook 01, 02 or 04 served with parameters that keep it off the repository's folders."""
    _browser_or_skip()
    name = request.param
    params: dict = {}
    if name.startswith("01"):
        params = {"path": str(REPO / "workbench" / "demo_data" / "happy_zh_onset0.wav")}
    if name.startswith("02"):
        params = {"path": str(REPO / "workbench" / "demo_data" / "happy_en_44k.wav"), "model": "tiny"}
    if name.startswith("04"):
        from workbench.runs.driver import Variant, run

        run(REPO / "workbench" / "demo_data" / "manifest.csv", out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache",
            variants=[Variant("raw"), Variant("telephone", ({"name": "telephone"},))])
        params = {"run_dir": str(tmp_path / "run")}
    with _jupyterlab(tmp_path, NOTEBOOKS / f"{name}.ipynb", params) as served:
        yield {**served, "name": name, **params}


@pytest.mark.parametrize("small_lab", ["01_conversion_trimming", "02_sample_rate_effects", "04_misclassifications"], indirect=True)
def test_widget_notebooks_respond_in_jupyterlab(small_lab):
    """One user action per notebook, checked in the page, and a screenshot of the widget after it."""
    from playwright.sync_api import expect

    shots = _screenshot_dir()
    name = small_lab["name"]
    with _chromium(shots, name) as page:
        _run_all_cells(page, small_lab["url"])
        _no_cell_raised(page)
        area = page.locator(".jp-OutputArea-output")
        widget = area.locator(".widget-vbox").first
        expect(widget).to_be_visible(timeout=120_000)
        if name.startswith("01"):
            # the demo clip's speech starts at sample 0; a trim that cuts nothing there keeps that finding
            findings = area.locator(".widget-html-content", has_text="findings of the")
            chain = area.locator(".widget-dropdown", has_text="chain").locator("select")
            chain.select_option("intake only")
            expect(findings).to_contain_text("findings of the intake only audio")
            expect(findings).to_contain_text("speech_at_sample_0")
            chain.select_option("trim top_db=30")
            expect(findings).to_contain_text("findings of the trim top_db=30 audio")
            expect(area.locator(".widget-html-content", has_text="samples) at start")).to_contain_text("cut 0 ms (0 samples) at start")
            expect(findings).to_contain_text("speech_at_sample_0")
            expect(area.locator("audio")).to_have_count(2)
        elif name.startswith("02"):
            area.locator(".widget-dropdown", has_text="source rate").locator("select").select_option("44100")
            area.locator(".widget-checkbox", has_text="telephone").locator("input").check()
            area.get_by_role("button", name="compare").click()
            expect(area.locator(".widget-html-content", has_text="original (")).to_contain_text("44100 Hz / soxr / telephone", timeout=60_000)
            expect(area.locator("audio")).to_have_count(2)
        else:
            import pandas as pd

            res = pd.read_parquet(Path(small_lab["run_dir"]) / "results.parquet")
            ok = res[(res["status"] == "ok") & (res["variant"] == "raw") & (res["emotion"].fillna("") != "")]
            (t, p), n = max(ok.groupby(["emotion", "pred"]).size().items(), key=lambda kv: kv[1])
            classes = [c for c in __import__("workbench.labels", fromlist=["LABEL_KEYS"]).LABEL_KEYS if c in set(ok["emotion"])]
            cols = classes + [c for c in __import__("workbench.labels", fromlist=["LABEL_KEYS"]).LABEL_KEYS
                              if c not in classes and c in set(ok["pred"])]
            explorer = widget
            buttons = explorer.locator(".widget-hbox").nth(1 + classes.index(t)).locator("button")
            cell = buttons.nth(cols.index(p))
            expect(cell).to_have_text(str(n))
            cell.click()
            expect(explorer.locator(".widget-html-content", has_text="items with true")).to_contain_text(f"{n} items with true {t} predicted {p}")
            explorer.get_by_role("button", name="open in browser").click()
            detail = explorer.locator(".widget-html-content", has_text="nearest neighbours")
            expect(detail).to_have_count(1, timeout=120_000)
            expect(detail).to_contain_text("[raw]")
            expect(detail).to_contain_text("audio as scored: variant raw (no steps)")
            expect(detail).to_contain_text("match the row")
        page.wait_for_timeout(500)
        widget.screenshot(path=str(shots / f"{name}_widget.png"))
