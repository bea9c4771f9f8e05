"""`workbench report -p …`: every problem of the list in one refusal, each value echoed as typed.

A name given twice was refused before an unknown name was looked at, so a user fixed one and met the next refusal;
`-p probe_k=true` was refused as "probe_k=True", a spelling the user never typed.
"""

from __future__ import annotations

import pytest

from workbench.cli import main
from workbench.errors import ConfigError
from workbench.views.report_run import parse_params


def test_all_problems_of_the_p_list_are_said_in_one_refusal(tmp_path, capsys):
    rc = main(["report", "experiment_report", "--out", str(tmp_path / "r"), "-p", "rundir=x", "-p", "title=a", "-p", "title=b",
               "-p", "fusion=maybe", "-p", "bogus"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 2, err  # the refusal and its fix
    for part in ("parameter 'bogus' is not key=value", "parameter title is given twice ('a', then 'b')",
                 "unknown parameter 'rundir' (did you mean 'run_dir'?); template experiment_report takes run_dir, model, title, fusion",
                 "parameter fusion='maybe' is not true or false"):
        assert part in err, (part, err)
    for fix in ("pass -p title=… once", "e.g. -p run_dir=…", "pass -p fusion=true or -p fusion=false"):
        assert fix in err, (fix, err)
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_a_yes_no_where_a_count_is_expected_is_refused_as_typed():
    with pytest.raises(ConfigError) as info:
        parse_params(["probe_k=true", "n_boot=0", "top=5", "n_boot=7"], template="checkpoint_comparison")
    msg = info.value.message
    assert "parameter probe_k='true' is not a whole number from 2 to 100,000 (it reads as a yes/no)" in msg
    assert "True" not in msg and "parameter n_boot is given twice ('0', then '7')" in msg
    assert "parameter n_boot='0' is not a whole number from 1 to 100,000" in msg and "top" not in msg
    assert parse_params(["probe_k=3", "top=5"], template="checkpoint_comparison") == {"probe_k": 3, "top": 5}
    with pytest.raises(ConfigError, match="n_boot is given 3 times \\('1', '2', then '3'\\)"):
        parse_params(["n_boot=1", "n_boot=2", "n_boot=3"])
