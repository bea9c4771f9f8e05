"""Every notebook and report template executed headless on the demo data, as CI must."""

from __future__ import annotations

import json

import nbformat
import pytest

from conftest import REPO
from workbench.cli import main

pytestmark = pytest.mark.notebook
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TEMPLATES = sorted((REPO / "workbench" / "templates").glob("*.ipynb"))
# what third-party libraries print when nobody stops them; none of it may reach a report
NOISE = ("[INFO]", "[WARNING]", "trust_remote_code", "PosixPath(", "Loading weights", "fontManager", "scope_map",
         "download models from model hub", "WARNING root", "without encryption")


def assert_clean_report(page: str) -> None:
    """No library noise, no stray values, no code; the random-weights banner is the first thing shown."""
    import re

    for noise in NOISE:
        assert noise not in page, noise
    body = page.split("<body>", 1)[1]
    text = re.sub(r"<[^>]+>", "\n", body)
    first = next(line.strip() for line in text.splitlines() if line.strip())
    assert first.startswith("⚠ RANDOM WEIGHTS"), first
    assert body.count("<h1>") == 1  # one title, after the banner
    assert "<pre" not in body  # no stream output, no stray text/plain value


def test_templates_are_package_data_and_print_nothing_stray():
    """Every template cell that is not the parameters cell ends in an assignment or a call that returns None."""
    import ast

    assert [p.stem for p in TEMPLATES] == ["checkpoint_comparison", "experiment_report", "variant_comparison"]
    for path in TEMPLATES:
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].cell_type == "code" and "parameters" in nb.cells[0].metadata.get("tags", [])  # no title cell before the banner
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "setup_report(report_dir)" in code[1].source  # logs are routed before anything loads
        for c in code[1:]:
            last = ast.parse(c.source).body[-1]
            if isinstance(last, ast.Expr):  # a bare expression shows its value unless it is a call returning None
                assert isinstance(last.value, ast.Call), c.source
                func = last.value.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id
                assert name in ("setup_report", "worst_cases", "write_metrics", "show_figure", "display"), c.source


def test_notebooks_are_committed_without_outputs_and_with_one_parameters_cell():
    assert len(NOTEBOOKS) == 6
    for path in NOTEBOOKS + TEMPLATES:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless_on_the_demo_data(path, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), kernel_name="python3", progress_bar=False, cwd=str(REPO / "notebooks"))
    nb = nbformat.read(out, as_version=4)
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream")
    for noise in NOISE:  # no red boxes of FunASR's, matplotlib's or the transformers' lines
        assert noise not in streams, f"{path.name}: {noise} in {streams[:500]}"
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.outputs, f"{path.name}: the last cell shows nothing"
    kinds = {k for o in last.outputs for k in o.get("data", {})}
    assert kinds & {"application/vnd.jupyter.widget-view+json", "text/markdown", "image/png"}, kinds


def test_experiment_report_command_writes_a_self_contained_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    assert main(["report", "experiment_report", "--out", str(tmp_path / "reports"), "-p", "title=Demo check", "-p", "fusion=true"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "self-contained" in out
    (folder,) = list((tmp_path / "reports" / "experiment_report").iterdir())
    html = (folder / "experiment_report.html").read_text(encoding="utf-8")
    assert "RANDOM WEIGHTS" in html[:3000]  # said at the top
    assert_clean_report(html)
    # the default run is the demo set: several speakers, so fusion (asked for) is evaluated, as an HTML table
    assert "speaker-independent cross-validation" in html and "<th>method</th>" in html and "Not evaluated" not in html
    log = (folder / "report.log").read_text(encoding="utf-8")
    assert "WARNING workbench.model.network: RANDOM WEIGHTS" in log  # the kernel's log records went to the file, not the page
    assert "Demo check" in html and "UAR" in html and "data:image/png;base64," in html and "<audio" in html
    assert "src=\"http" not in html and "src='http" not in html and "href=\"http" not in html and "<script src" not in html
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["random_weights"] is True and "raw" in metrics["metrics"]
    assert (folder / "experiment_report.ipynb").is_file()


def test_variant_comparison_template(tmp_path, monkeypatch):
    from workbench.views.reporting import run_report

    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    paths = run_report("variant_comparison", {"sweep_kind": "trim"}, out=tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    assert "McNemar" in html and "trim sweep" in html and "telephone" in html
    assert_clean_report(html)
    m = json.loads(paths["metrics"].read_text())
    assert [c["variant"] for c in m["comparison"]["comparisons"]] == ["telephone", "trim_20db"]
    assert len(m["sweep"]["points"]) == 6


def test_unknown_template_and_bad_param_are_usage_errors(capsys):
    assert main(["report", "nope"]) == 2
    assert "unknown report template 'nope'" in capsys.readouterr().err
    assert main(["report", "experiment_report", "-p", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err


@pytest.fixture
def small_run(tmp_path, tiny_model):
    """A finished run of three synthetic clips (two speakers) at tmp_path/runs/small."""
    import soundfile as sf

    from conftest import speech_like
    from workbench.runs.driver import run

    rows = ["id,path,label,speaker,text"]
    for i in range(3):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 1.2, seed=i), 16000)
        rows.append(f"c{i},c{i}.wav,{['happy', 'sad', 'angry'][i]},s{i % 2},text {i}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    run(tmp_path / "m.csv", out_dir=tmp_path / "runs" / "small", model=tiny_model, cache_dir=tmp_path / "cache")
    return tmp_path / "runs" / "small"


def test_report_takes_a_run_dir_relative_to_where_it_is_called(small_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "experiment_report", "--out", "reports", "-p", "run_dir=runs/small"]) == 0, capsys.readouterr().err
    (folder,) = (tmp_path / "reports" / "experiment_report").iterdir()
    assert json.loads((folder / "metrics.json").read_text())["run_dir"] == str(small_run.resolve())
    page = (folder / "experiment_report.html").read_text(encoding="utf-8")
    assert "3 items" in page and "Speech + text fusion" in page and "-p fusion=true" in page  # left out by default: said
    assert page.count("class='wb-banner'") == 1  # the header's banner, not a second one from the page


def _reported_body(tmp_path, monkeypatch, capsys, notebook: str, param: str) -> str:
    """`workbench report notebooks/NOTEBOOK.ipynb -p PARAM` from ``tmp_path``: the terminal must open with the
    random-weights banner; returns the page's body."""
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(REPO / "notebooks" / f"{notebook}.ipynb"), "--out", "reports", "-p", param]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("!! RANDOM WEIGHTS")
    (folder,) = (tmp_path / "reports" / notebook).iterdir()
    return (folder / f"{notebook}.html").read_text(encoding="utf-8").split("<body>", 1)[1]


def test_a_notebook_report_of_a_random_weights_run_says_so_first(small_run, tmp_path, monkeypatch, capsys):
    """`workbench report notebooks/03_low_confidence_cases.ipynb` of a tiny-checkpoint run rendered a page of two
    widget placeholders and no banner, and printed none: the README says such a report says so first."""
    import re

    body = _reported_body(tmp_path, monkeypatch, capsys, "03_low_confidence_cases", "run_dir=runs/small")
    first = next(line.strip() for line in re.sub(r"<[^>]+>", "\n", body).splitlines() if line.strip())
    assert first.startswith("⚠ RANDOM WEIGHTS") and body.count("class='wb-banner'") == 1


def test_a_notebook_report_that_scores_with_the_tiny_model_itself_says_so_first(tmp_path, monkeypatch, capsys):
    """`workbench report notebooks/02_sample_rate_effects.ipynb -p model=tiny` reads no run: its widget scores with
    the tiny random checkpoint, and the page and terminal carried no banner (only runs were asked)."""
    body = _reported_body(tmp_path, monkeypatch, capsys, "02_sample_rate_effects", "model=tiny")
    assert body.lstrip().startswith("<div class='wb-banner'") and body.count("class='wb-banner'") == 1


def test_report_with_a_missing_run_dir_names_it_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "experiment_report", "--out", "reports", "-p", "run_dir=runs/nope"]) == 2
    err = capsys.readouterr().err
    assert "run_dir='runs/nope'" in err and str(tmp_path / "runs" / "nope") in err
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").rglob("*.ipynb"))


def test_a_failing_report_is_marked_failed_with_its_traceback(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    from workbench.errors import ConfigError
    from workbench.views.reporting import run_report

    p = new_code_cell("x = 1\nreport_dir = '.'")
    p.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[p, new_code_cell("raise ValueError(f'boom {x}')")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "bad.ipynb")
    with pytest.raises(ConfigError, match="boom 7") as info:
        run_report(tmp_path / "bad.ipynb", {"x": 7}, out=tmp_path / "reports")
    (folder,) = (tmp_path / "reports" / "bad").iterdir()
    assert folder.name.endswith("_FAILED") and str(folder) in str(info.value)
    assert "boom 7" in (folder / "FAILED").read_text() and "boom 7" in (folder / "bad.html").read_text()


def test_a_report_whose_kernel_dies_is_marked_failed_not_left_half_made(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    from workbench.errors import ConfigError
    from workbench.views.reporting import run_report

    p = new_code_cell("report_dir = '.'")
    p.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[p, new_code_cell("import os\nos._exit(3)")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "dies.ipynb")
    with pytest.raises(ConfigError, match="did not finish"):
        run_report(tmp_path / "dies.ipynb", out=tmp_path / "reports")
    (folder,) = (tmp_path / "reports" / "dies").iterdir()
    assert folder.name.endswith("_FAILED") and (folder / "FAILED").is_file() and (folder / "dies.ipynb").is_file()


def test_a_report_interrupted_by_ctrl_c_says_so_and_where_what_ran_is_kept(tmp_path):
    # the kernel's second cell sends SIGINT to the `workbench report` process, as a Ctrl-C mid-report does
    import subprocess
    import sys

    from nbformat.v4 import new_code_cell, new_notebook

    p = new_code_cell("report_dir = '.'")
    p.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[p, new_code_cell("print('first cell ran')"),
                               new_code_cell("import os, signal, time\nos.kill(os.getppid(), signal.SIGINT)\ntime.sleep(60)"),
                               new_code_cell("print('never')")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "stops.ipynb")
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "report", str(tmp_path / "stops.ipynb"), "--out", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    (folder,) = (tmp_path / "reports" / "stops").iterdir()
    assert proc.returncode == 130, proc.stderr
    assert folder.name.endswith("_FAILED")
    assert proc.stderr.startswith("interrupted; no file is left half-written") and "again redoes it" in proc.stderr
    assert f"what ran of the report is kept in {folder}" in proc.stderr and "Traceback" not in proc.stderr
    assert (folder / "FAILED").read_text().startswith("interrupted (Ctrl-C")
    html = (folder / "stops.html").read_text()
    assert "stops (INTERRUPTED)" in html and "first cell ran" in html


def test_report_fusion_flag_is_checked():
    # the fusion section is behind -p fusion=true (issue #28: most of the report's time); any other value is refused
    from workbench.errors import ConfigError
    from workbench.views import reporting as R

    assert R.flag("fusion", True) is True and R.flag("fusion", False) is False
    for bad in ("maybe", 1, None):
        with pytest.raises(ConfigError, match="fusion"):
            R.flag("fusion", bad)
    assert "fusion" in R.template_parameters("experiment_report")


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "notebooks" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_writes_exactly_the_committed_notebooks_and_templates():
    gen = _generator()
    written = gen.books()
    assert {p.name for p in written} == {p.name for p in NOTEBOOKS + TEMPLATES}
    stale = [p.name for p, book in written.items() if p.read_text(encoding="utf-8") != gen.render(book)]
    assert stale == [], f"edit notebooks/make_notebooks.py and run it; these differ from what it writes: {stale}"


def test_notebooks_and_templates_use_only_the_public_api_and_find_the_package_by_import():
    import ast

    import workbench as wb

    for path in NOTEBOOKS + TEMPLATES:
        nb = nbformat.read(path, as_version=4)
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            tree = ast.parse(cell.source)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
                    raise AssertionError(f"{path.name}: `from {node.module} import …`; use `import workbench as wb`")
                if isinstance(node, ast.Import):
                    for a in node.names:
                        assert not a.name.startswith("workbench") or (a.name, a.asname) == ("workbench", "wb"), (path.name, a.name)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "wb":
                    assert node.attr in wb.__all__, f"{path.name}: wb.{node.attr} is not a public name"
            assert "sys.path" not in cell.source and ".parents" not in cell.source, f"{path.name} climbs folders to find the package"
