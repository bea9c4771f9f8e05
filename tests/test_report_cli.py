"""`workbench report` before any notebook runs: its help names every template's parameters with their defaults, and a
misspelt template or a baseline that is none of the run's variants is refused with the closest one named."""

from __future__ import annotations

import pytest

from test_probe import synthetic_row, write_run
from workbench.cli import main


def test_report_help_lists_each_templates_parameters_with_their_defaults(capsys):
    """`--param` said "key=value (repeatable), e.g. run_dir=runs/my_run": baseline, fusion or run_dirs were found only by
    opening the template notebooks."""
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("experiment_report: run_dir=None: a finished run folder", "fusion=False: the speech+text fusion section",
                  "variant_comparison: run_dir=None", "baseline=None: the variant the others are compared with; default: raw",
                  "sweep_kind='sample-rate': what the sweep varies", "checkpoint_comparison: run_dirs=None"):
        assert words in out, (words, out)
    assert "report_dir" not in out  # set by `workbench report` itself


def test_a_misspelt_template_is_refused_with_the_closest_one_named(tmp_path, capsys):
    assert main(["report", "experiment_reprot", "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "unknown report template 'experiment_reprot'; did you mean 'experiment_report'?" in err, err


def test_a_baseline_that_is_none_of_the_runs_variants_is_refused_before_the_notebook_runs(tmp_path, capsys):
    """`-p baseline=rwa` ran the notebook until its comparison cell failed, left a _FAILED report folder and said "pass
    --baseline with one of them", an option `workbench report` does not have."""
    rows = [synthetic_row(f"i{k}", emotion="happy", variant=v) for v in ("raw", "telephone") for k in range(3)]
    run = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows)).path
    out = tmp_path / "reports"
    assert main(["report", "variant_comparison", "-p", f"run_dir={run}", "-p", "baseline=rwa", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "parameter baseline='rwa': the run has no such variant; did you mean 'raw'? its variants: raw, telephone." in err, err
    assert "fix: pass -p baseline= one of them, e.g. -p baseline=raw." in err and "--baseline" not in err, err
    assert not out.exists()  # no notebook started, no _FAILED folder


def test_a_yes_no_parameter_given_another_value_is_refused_before_the_notebook_runs(tmp_path, capsys):
    """`-p fusion=maybe` ran the report up to the fusion cell, which refused it, leaving a _FAILED folder."""
    rows = [synthetic_row(f"i{k}", emotion="happy") for k in range(3)]
    run = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows)).path
    out = tmp_path / "reports"
    assert main(["report", "experiment_report", "-p", f"run_dir={run}", "-p", "fusion=maybe", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "parameter fusion='maybe' is not true or false." in err and "fix: pass -p fusion=true or -p fusion=false." in err
    assert not out.exists()
