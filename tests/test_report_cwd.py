"""`workbench report NOTEBOOK --out X` wrote the notebook's runs/ into the folder the command was run in."""

from __future__ import annotations

import nbformat

from workbench.views.report_run import run_report


def test_a_reported_notebook_writes_into_its_report_folder_not_the_callers(tmp_path, monkeypatch):
    # notebooks/03_low_confidence_cases.ipynb makes its demo run under `pathlib.Path.cwd() / 'runs'`: run from
    # /tmp/h3rep with --out /tmp/h3rep/b, it left /tmp/h3rep/runs/demo_low_confidence beside the asked-for folder
    params = nbformat.v4.new_code_cell("name = 'x'")
    params.metadata["tags"] = ["parameters"]
    caller = tmp_path / "caller"
    caller.mkdir()
    work = nbformat.v4.new_code_cell("import pathlib\n(pathlib.Path.cwd() / 'runs').mkdir()\n"
                                     f"print(pathlib.Path(name).resolve() == pathlib.Path({str(caller.resolve() / 'clip.wav')!r}))")
    nb = nbformat.v4.new_notebook(cells=[params, work])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "mine.ipynb"
    nbformat.write(nb, src)
    (caller / "clip.wav").write_bytes(b"")
    monkeypatch.chdir(caller)
    written = run_report(src, {"name": "clip.wav"}, out=tmp_path / "out")
    assert not (caller / "runs").exists(), sorted(p.name for p in caller.iterdir())
    assert (written["dir"] / "runs").is_dir()
    # a parameter naming a file in the caller's folder still names it in the notebook, which keeps it relative to its
    # own folder (where it runs): the executed notebook names no machine's folders and runs again in a copied project
    assert "True" in written["html"].read_text()
    assert nbformat.read(written["notebook"], as_version=4).metadata["papermill"]["parameters"]["name"] == "../../../caller/clip.wav"


def test_report_parameters_take_none_in_pythons_spelling_as_null():
    """The templates say "None skips the probe" (``probe_folds``); YAML reads ``None`` as a string, so
    ``-p probe_folds=None`` gave the probe an unknown scheme 'None' instead of skipping it."""
    from workbench.views.report_run import parse_params

    got = parse_params(["probe_folds=None", "a=none", "b=null", "c=~", "d=3", "e=speaker", "f=Nones"])
    assert got == {"probe_folds": None, "a": None, "b": None, "c": None, "d": 3, "e": "speaker", "f": "Nones"}


def test_a_file_size_is_said_in_the_unit_that_shows_it():
    """A 1.6 kB report page was announced as "(0.0 MB, self-contained)"."""
    from workbench.serialize import size_text

    assert [size_text(n) for n in (0, 999, 1_600, 2_345_678, 3_000_000_000)] == ["0 bytes", "999 bytes", "1.6 kB", "2.3 MB",
                                                                                 "3.0 GB"]
