"""A command that reads a run draws its random numbers with the run's recorded seed (``seed:`` of its
experiment.yaml) unless ``--seed`` is typed, and says so when it is; 0 for a run that recorded none."""

from __future__ import annotations

import json

import pytest

from test_calibration import planted_run
from test_calibration_cli import _run_folder
from workbench.cli import build_parser, main
from workbench.runs.folder import RunFolder

#: every command that reads a run folder and takes --seed
RUN_READERS = ("calibrate", "compare", "fuse", "probe", "embeddings", "listeners", "features")


def _seeded_run(path, seed: int | None):
    _run_folder(path, planted_run(n_speakers=4, per_speaker=40))
    if seed is not None:
        (path / "experiment.yaml").write_text(f"manifest: planted.csv\nmodel: tiny\nseed: {seed}\n")
    return path


def _calibration(run_dir, capsys, *seed: str) -> tuple[dict, str]:
    out = run_dir.parent / f"cal{'_'.join(seed) or '_default'}"
    assert main(["calibrate", str(run_dir), "--scheme", "none", "--folds", "2", "--bootstrap", "40", "--no-figures",
                 "--out", str(out), "--json", *seed]) == 0
    captured = capsys.readouterr()
    saved = json.loads(captured.out)
    return {v: r for v, r in saved["variants"].items()}, captured.err


def test_calibrate_draws_with_the_runs_recorded_seed_unless_seed_is_typed(tmp_path, capsys):
    run_dir = _seeded_run(tmp_path / "run", seed=7)
    assert RunFolder(run_dir).seed == 7
    default, err_default = _calibration(run_dir, capsys)
    typed7, err7 = _calibration(run_dir, capsys, "--seed", "7")
    typed0, err0 = _calibration(run_dir, capsys, "--seed", "0")
    assert default == typed7  # left out: the run's seed, as its summary, metrics and reports
    assert default != typed0  # (the old default, 0, drew other folds and resamples)
    assert "typed with --seed" not in err_default
    assert "seed 0 (typed with --seed; the run's recorded seed is 7)" in err0


def test_a_run_without_a_recorded_seed_draws_with_0(tmp_path, capsys):
    run_dir = _seeded_run(tmp_path / "run", seed=None)
    assert _calibration(run_dir, capsys)[0] == _calibration(run_dir, capsys, "--seed", "0")[0]


@pytest.mark.parametrize("command", RUN_READERS)
def test_every_run_reader_says_its_seed_default_in_its_help(command):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    seed = next(a for a in sub.choices[command]._actions if a.dest == "seed")
    assert seed.default is None  # left out: resolved from the run, never a fixed 0
    assert "recorded seed" in seed.help and "0 for a run that recorded none" in seed.help
