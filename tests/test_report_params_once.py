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
        parse_params(["probe_folds=true", "n_boot=0", "top=5", "n_boot=7"], template="checkpoint_comparison")
    msg = info.value.message
    assert "parameter probe_folds='true' is not a whole number from 2 to 100,000 (it reads as a yes/no)" in msg
    assert "True" not in msg and "parameter n_boot is given twice ('0', then '7')" in msg
    assert "parameter n_boot='0' is not a whole number from 1 to 100,000" in msg and "top" not in msg
    assert parse_params(["probe_folds=3", "top=5"], template="checkpoint_comparison") == {"probe_folds": 3, "top": 5}
    with pytest.raises(ConfigError, match="n_boot is given 3 times \\('1', '2', then '3'\\)"):
        parse_params(["n_boot=1", "n_boot=2", "n_boot=3"])


def test_hundreds_of_problems_at_once_give_a_bounded_refusal_that_still_names_each_kind(tmp_path, capsys):
    """300 names without "=", one name given 300 times and 300 unknown names: 21 KB on one line before, every kind now
    named with a few examples and the rest counted; a 10^5-character name was echoed whole (300 KB when given thrice)."""
    argv = ["report", "experiment_report", "--out", str(tmp_path / "r")]
    for i in range(300):
        argv += ["-p", f"bogus{i}=1", "-p", f"run_dir=/x{i}", "-p", f"novalue{i}"]
    for _ in range(3):
        argv += ["-p", "a" * 100_000 + "=1"]
    for i in range(20):  # 20 more names given twice: one problem for them all, the other kinds still said
        argv += ["-p", f"twice{i}=1", "-p", f"twice{i}=2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err) < 2000 and len(err.strip().splitlines()) == 2, (len(err), err[:3000])
    for part in ("300 parameters are not key=value ('novalue0', ", "21 parameters are given more than once (run_dir, twice0, twice1, twice2, twice3, twice4, twice5, twice6, …)",
                 "… 312 more; template experiment_report takes run_dir, model, title, fusion", "has 100,000 characters"):
        assert part in err, (part, err)
    assert "Traceback" not in err and not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="run_dir is given 300 times \\('/x0', '/x1', '/x2', … 296 more, then '/x299'\\)"):
        parse_params([f"run_dir=/x{i}" for i in range(300)])
    with pytest.raises(ConfigError, match="; and 3 more problem\\(s\\)\\."):
        parse_params([f"n{i}" if i % 2 else "a" * 1000 + f"{i}=1" for i in range(20)])
