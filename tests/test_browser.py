"""A user's path through a widget notebook, in a real browser.

JupyterLab is started on localhost (token on) with a copy of
``notebooks/03_low_confidence_cases.ipynb`` pointed at a run of the demo set;
Debian's Chromium, driven headless by Playwright, opens it, runs all cells
through the menu, moves the confidence threshold, selects an item and checks
what the browser shows against the run's results table.  Screenshots are kept
in ``reports/browser_test/`` (or ``$WORKBENCH_SCREENSHOTS``).

Chromium cannot be downloaded by Playwright here; the system one is used.
Without it the test is skipped, unless ``WORKBENCH_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs it), where a missing browser is a failure.
"""

from __future__ import annotations

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
NOTEBOOK = REPO / "notebooks" / "03_low_confidence_cases.ipynb"


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


@pytest.fixture
def lab(tmp_path, tiny_model):
    """A run of the demo set, the notebook pointed at it, and JupyterLab serving the folder."""
    _browser_or_skip()
    import papermill as pm

    from workbench.runs import run

    run_dir = tmp_path / "run"
    run(REPO / "workbench" / "demo_data" / "manifest.csv", out_dir=run_dir, model=tiny_model, cache_dir=tmp_path / "cache")
    work = tmp_path / "lab"
    work.mkdir()
    # parameters injected as papermill would, nothing executed: the browser runs the cells
    pm.execute_notebook(str(NOTEBOOK), str(work / NOTEBOOK.name), parameters={"run_dir": str(run_dir)}, prepare_only=True,
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
        yield {"url": f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", "run_dir": run_dir, "log": tmp_path / "jupyterlab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _screenshot_dir() -> Path:
    d = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or REPO / "reports" / "browser_test")
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_low_confidence_notebook_in_jupyterlab_with_chromium(lab):
    import pandas as pd
    from playwright.sync_api import expect, sync_playwright

    ok = pd.read_parquet(lab["run_dir"] / "results.parquet")
    ok = ok[ok["status"] == "ok"]
    shots = _screenshot_dir()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_default_timeout(60_000)
            page.goto(lab["url"])
            # the notebook is open and its kernel is up
            expect(page.locator(".jp-Notebook")).to_be_visible(timeout=90_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=90_000)
            # Run ▸ Run All Cells, as a user would (focus a cell first: the menu acts on the current notebook)
            for attempt in range(3):
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
            area = page.locator(".jp-OutputArea-output")
            count = area.locator(".widget-html-content", has_text=re.compile(r"of \d+ items"))
            expect(count).to_have_count(1, timeout=180_000)
            assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").filter(
                has_text="Error").count(), "a cell raised"
            expect(area.get_by_text("RANDOM WEIGHTS", exact=False).first).to_be_visible()
            # the threshold the notebook opens with (0.6): the count matches the table
            conf = ok["confidence"].astype(float).to_numpy()
            below = lambda t: int((conf < t).sum())  # noqa: E731
            expect(count).to_contain_text(f"{below(0.6)} of {len(ok)} items")
            page.screenshot(path=str(shots / "low_confidence_opened.png"), full_page=True)

            # move the threshold to one that splits the items: type into the slider's readout
            t = min((k / 100 for k in range(1, 99)), key=lambda t: abs(below(t) - len(ok) / 2))
            readout = area.locator(".widget-slider .widget-readout").first
            options = area.locator(".widget-select select option")

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
            first = options.first
            shown = first.inner_text().replace("\xa0", " ")  # the widget renders spaces as &nbsp;
            assert shown.startswith(f"{worst['id']} [{worst['variant']}]"), shown
            area.locator(".widget-select select").select_option(index=0)
            detail = area.locator(".widget-html-content", has_text="nearest neighbours")
            expect(detail).to_have_count(1, timeout=120_000)
            expect(detail).to_contain_text(f"{worst['id']} [{worst['variant']}]")
            expect(detail).to_contain_text(f"predicted {worst['pred']}")
            expect(detail).to_contain_text(f"({worst['confidence']:.3f}")
            expect(area.locator("audio")).to_have_count(1)
            expect(area.locator("img")).to_have_count(1)
            assert area.locator("img").evaluate("i => i.naturalWidth") > 300, "the figure did not render"
            neigh = [li.split(":")[0] for li in detail.locator("ul").last.locator("li").all_inner_texts()]
            assert len(neigh) == min(5, len(ok) - 1) and worst["id"] not in neigh and set(neigh) <= set(ok["id"]), neigh
            codes = [c for c in str(worst["finding_codes"]).split(",") if c]
            for c in codes:  # each finding is listed with its suggestion
                expect(detail).to_contain_text(c)
            detail.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "low_confidence_item.png"))
            area.locator(".widget-vbox").first.screenshot(path=str(shots / "low_confidence_widget.png"))
        except Exception:
            # what the user would have seen, for whoever reads the failure
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            (shots / "failure.txt").write_text(page.locator("body").inner_text(), encoding="utf-8")
            raise
        finally:
            browser.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert (shots / "low_confidence_widget.png").stat().st_size > 20_000
